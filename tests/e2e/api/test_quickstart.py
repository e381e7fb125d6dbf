"""The quickstart recipe, exactly as a new user runs it (the session's one run: conftest.quickstart_run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli.main import main

RECIPE = Path(__file__).parents[3] / "recipes" / "quickstart.yaml"


@pytest.mark.slow
def test_quickstart_runs_end_to_end_and_reaches_its_accuracy(quickstart_run, monkeypatch):
    monkeypatch.chdir(quickstart_run)  # `compress run recipes/quickstart.yaml` exited 0 there (the fixture checks)
    run_dir = quickstart_run / "runs" / "quickstart"
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["status"] == "complete"
    metrics = [json.loads((run_dir / s["dir"] / "metrics.json").read_text()) for s in run_json["stages"]]
    by_stage = {m["stage"]: m for m in metrics}
    assert by_stage["train"]["accuracy"]["top1"] >= 0.95
    assert by_stage["prune"]["extra"]["target_met"]
    assert by_stage["distill"]["accuracy"]["top1"] >= by_stage["train"]["accuracy"]["top1"] - 0.01
    assert by_stage["quantize"]["model"]["format"] == "onnx-int8"
    assert by_stage["quantize"]["accuracy"]["top1"] >= by_stage["distill"]["accuracy"]["top1"] - 0.01
    html = (run_dir / "report.html").read_text()
    for section in ("summary", "frontier", "stages", "pruning", "training", "quantization", "environment"):
        assert f'id="{section}"' in html
    assert (run_dir / "summary.md").is_file()
    again = CliRunner().invoke(main, ["run", str(RECIPE), "--quiet"])
    assert again.exit_code == 0 and "(cached)" in again.output
