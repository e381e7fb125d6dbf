"""The README's commands work exactly as written: bare `pytest` imports the checkout, CI runs that command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _readme_test_command() -> str:
    block = (ROOT / "README.md").read_text().split("## Install, run, test", 1)[1].split("##", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("pytest")][0]


def test_ci_runs_exactly_the_readme_test_command():
    command = _readme_test_command()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines, f"README's `{command}` is not what .ci/run runs"
    assert not any(re.match(r"python3? -m pytest", line) for line in ci_lines)


def test_bare_pytest_imports_the_benchmarks_package_from_the_checkout(tmp_path):
    """`pytest` (the console script) does not put the working directory on sys.path; the config must."""
    script = shutil.which("pytest", path=str(Path(sys.executable).parent)) or shutil.which("pytest")
    if script is None:
        pytest.skip("no `pytest` console script on PATH")
    probe = tmp_path / "test_probe.py"
    probe.write_text("import benchmarks, pathlib\n"
                     f"def test_probe():\n    assert pathlib.Path(benchmarks.__file__).parent.parent == "
                     f"pathlib.Path({str(ROOT)!r})\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([script, "-c", str(ROOT / "setup.cfg"), "--rootdir", str(ROOT), "-q",
                           "-p", "no:cacheprovider", str(probe)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _install_section() -> str:
    return (ROOT / "README.md").read_text().split("## Install, run, test", 1)[1].split("\n## ", 1)[0]


def test_readme_install_starts_with_the_choice_of_machine_cpu_only_first():
    install = _install_section()
    first_command = next(line.strip() for line in install.splitlines() if line.strip().startswith("pip "))
    assert first_command == "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"
    cpu = install.index(first_command)
    assert cpu < install.index('pip install -e ".[dev]"', cpu)  # the CPU build first, then the toolkit
    assert install.index("CPU-only") < install.index("NVIDIA GPU") < install.index("Jetson")
    assert "JetPack" in install and "--system-site-packages" in install


def test_getting_started_gives_the_same_installs_in_the_same_order():
    page = (ROOT / "docs" / "getting-started.md").read_text()
    cpu = page.index("pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu")
    assert cpu < page.index('pip install -e ".[dev]"', cpu)
    assert page.index("CPU-only") < page.index("NVIDIA GPU") < page.index("Jetson (JetPack 6)")
    assert "--system-site-packages" in page


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150, "move details to docs/, keep README short"


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_the_comparison_step_keeps_both_runs(page):
    step = (ROOT / page).read_text().split("3. Change a stage", 1)[1].split("\n4. ", 1)[0]
    assert "--set name=" in step and "compress report runs/quickstart runs/quickstart-2.7x" in step
