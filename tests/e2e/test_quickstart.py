"""The quickstart recipe, exactly as a new user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import main

RECIPE = Path(__file__).parents[2] / "recipes" / "quickstart.yaml"


@pytest.mark.slow
def test_quickstart_runs_end_to_end_and_reaches_its_accuracy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", str(RECIPE), "--quiet"])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "quickstart"
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["status"] == "complete"
    last = json.loads((run_dir / run_json["stages"][-1]["dir"] / "metrics.json").read_text())
    assert last["accuracy"]["top1"] >= 0.95
    again = CliRunner().invoke(main, ["run", str(RECIPE), "--quiet"])
    assert again.exit_code == 0 and "(cached)" in again.output
