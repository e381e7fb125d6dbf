"""A report that cannot be built does not undo a finished run: the run stays complete and says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.errors import UserInputError
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe


@pytest.mark.slow
def test_a_report_failure_leaves_the_run_complete_with_a_warning_and_no_stale_report(tiny, monkeypatch):
    import toolkit.report as report

    raw = tiny(stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    first = run_recipe(parse_recipe(raw))
    assert (first.run_dir / "report.html").is_file()

    def broken(*args, **kwargs):
        raise UserInputError("peers.json: an odd file")

    monkeypatch.setattr(report, "write_report", broken)
    again = run_recipe(parse_recipe(raw))
    info = json.loads((again.run_dir / "run.json").read_text())
    assert info["status"] == "complete" and again.report_path is None
    assert any("the report could not be built (peers.json: an odd file)" in w for w in info["warnings"])
    assert not (again.run_dir / "report.html").exists()  # the earlier run's report is not this run's


@pytest.mark.slow
def test_an_interrupt_while_the_report_is_built_leaves_the_run_interrupted_not_complete(tiny, monkeypatch):
    import toolkit.report as report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # SIGTERM after the last stage, while the report is written

    monkeypatch.setattr(report, "write_report", interrupted)
    raw = tiny(stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    with pytest.raises(KeyboardInterrupt):
        run_recipe(parse_recipe(raw))
    info = json.loads((Path(raw["output"]) / raw["name"] / "run.json").read_text())
    assert info["status"] == "interrupted" and "compress report RUN_DIR" in info["error"]
