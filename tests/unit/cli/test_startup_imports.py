"""The newcomer's first commands start without torch: `compress validate --schema-only` and `compress stages` import
none of torch, torchvision, onnxruntime and openvino (how fast they answer is benchmarks/cli_startup.py's to say).

Each command runs in a fresh interpreter (this test process has imported torch long ago), through click's runner,
and the interpreter then lists which heavy packages are in sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "torchvision", "onnxruntime", "openvino")
PROBE = """
import json, sys
from click.testing import CliRunner
from toolkit.cli.main import main
result = CliRunner().invoke(main, json.loads(sys.argv[1]))
print(json.dumps({"exit_code": result.exit_code, "output": result.output,
                  "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def run_fresh(args: list[str], cwd: Path = ROOT) -> dict:
    """Exit code, output and the heavy packages imported by `compress ARGS` run in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd, capture_output=True, text=True,
                          check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["validate", "--schema-only", "recipes/quickstart.yaml"], ["stages"],
                                  ["stages", "--markdown"]])
def test_the_newcomer_commands_import_no_torch_or_runtime(args):
    found = run_fresh(args)
    assert found["exit_code"] == 0, found["output"]
    assert found["heavy"] == []


def test_schema_only_leaves_torchvision_names_to_the_pre_flight_and_still_refuses_bad_names(tmp_path):
    (tmp_path / "tv.yaml").write_text(
        "name: tv\nmodel: {arch: mobilenet_v2}\ndata: {dataset: synthetic}\n"
        "stages:\n  - train: {epochs: 1}\n  - distill: {teacher: {arch: resnet18}, epochs: 1}\n  - quantize: {}\n")
    (tmp_path / "bad.yaml").write_text(
        "name: bad\nmodel: {arch: 'Res Net'}\ndata: {dataset: nope}\nmeasure: {runtimes: [torch-gpu]}\n"
        "stages: [train]\n")
    found = run_fresh(["validate", "--schema-only", "tv.yaml"], tmp_path)
    assert found["exit_code"] == 0, found["output"]
    assert "schema only; the pre-flight checks torchvision and timm names and module paths: mobilenet_v2, resnet18" \
        in found["output"]
    assert found["heavy"] == []
    bad = run_fresh(["validate", "--schema-only", "bad.yaml"], tmp_path)
    assert bad["exit_code"] == 2 and bad["heavy"] == []
    for problem in ("model.arch: unknown model 'Res Net'", "data.dataset: unknown dataset 'nope'",
                    "measure.runtimes[0]: unknown runtime 'torch-gpu' (did you mean 'torch-cpu'?)"):
        assert problem in bad["output"]


def test_names_only_checks_own_names_and_forms_and_leaves_the_rest_to_the_pre_flight():
    from toolkit.models import check_arch, names_only

    with names_only() as left:
        assert check_arch("seed_cnn") is None and check_arch("resnet20") is None
        assert check_arch("resnet18") is None  # torchvision's: left to the pre-flight
        assert check_arch("json.decoder:JSONDecoder") is None  # the package is found; its module is not imported
        assert check_arch("json:loads") is None  # a top-level module is located as always (without importing it)
        assert "not of the form" in check_arch("pkg.:fn") and "not of the form" in check_arch("pkg:fn-1")
        assert "cannot find module 'no_such_package_x'" in check_arch("no_such_package_x.models:net")
        assert "unknown model 'two words'" in check_arch("two words")
    assert left == ["resnet18", "json.decoder:JSONDecoder"]


def test_full_validate_still_checks_torchvision_names(tmp_path):
    """Outside names_only() (validate without --schema-only, run), torchvision's list is read as before."""
    from click.testing import CliRunner

    from toolkit.cli.main import main

    (tmp_path / "r.yaml").write_text("name: r\nmodel: {arch: mobilenet_v9}\ndata: {dataset: synthetic}\n"
                                     "stages: [train]\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "r.yaml")])
    assert result.exit_code == 2
    assert "unknown model 'mobilenet_v9' (did you mean 'mobilenet_v2'?)" in result.output
