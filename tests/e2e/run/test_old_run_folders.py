"""A run folder written by an earlier release still opens: the report renders it and bench measures it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import main

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "runs-0.1.0" / "release-0.1.0"


@pytest.fixture
def old_run(tmp_path) -> Path:
    """A copy (tests never write into tracked folders)."""
    return Path(shutil.copytree(FIXTURE, tmp_path / FIXTURE.name))


def test_the_fixture_was_written_by_release_0_1_0():
    assert json.loads((FIXTURE / "run.json").read_text())["toolkit_version"] == "0.1.0"


def test_compress_report_renders_a_run_folder_of_release_0_1_0(old_run):
    result = CliRunner().invoke(main, ["report", str(old_run)])
    assert result.exit_code == 0, result.output
    html = (old_run / "report.html").read_text(encoding="utf-8")
    for stage in ("01-train", "02-prune", "03-quantize"):
        assert stage in html
    assert "degraded" in html  # its prune stage was judged degraded when it ran


@pytest.mark.slow
def test_compress_bench_measures_every_model_of_a_run_folder_of_release_0_1_0(old_run):
    result = CliRunner().invoke(main, ["bench", str(old_run), "--runtime", "onnxruntime-cpu", "--batch-size", "1",
                                       "--min-iters", "3"])
    assert result.exit_code == 0, result.output
    written = sorted(p.parent.parent.name for p in old_run.glob("*/measurements/*.json"))
    assert written == ["01-train", "02-prune", "03-quantize"]
    record = json.loads(next((old_run / "02-prune" / "measurements").glob("*.json")).read_text())
    assert "onnxruntime-cpu" in json.dumps(record)
