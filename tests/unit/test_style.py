"""The style limits the project declares (setup.cfg's max-line-length, the design guide's file sizes), checked
here so that a declared limit is a kept one."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("toolkit", "tests", "benchmarks", "examples")
MAX_MODULE_LINES = 400  # the design guide: most files under 250 lines, none over 400


def _python_files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")
                  if "__pycache__" not in p.parts and "work" not in p.relative_to(ROOT).parts[:2])


def test_no_line_is_longer_than_setup_cfg_allows():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    limit = config.getint("flake8", "max-line-length")
    long_lines = [f"{path.relative_to(ROOT)}:{number} ({len(line)})" for path in _python_files()
                  for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if len(line) > limit]
    assert long_lines == []


def test_no_toolkit_module_is_over_400_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "toolkit").rglob("*.py") if "__pycache__" not in p.parts}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
