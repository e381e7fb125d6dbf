"""A cached rerun keeps the compute its stages cost apart from the last invocation's wall time."""

from __future__ import annotations

import json

import pytest

from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe
from toolkit.report import render
from toolkit.records import format_seconds, timing_summary


def _quick(tiny):
    raw = tiny(stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    return raw


@pytest.mark.slow
def test_cached_rerun_keeps_compute_time_apart_from_its_own_wall_time(tiny):
    raw = tiny(stages=[{"train": {"epochs": 12}}])  # a stage that costs clearly more than building the report
    raw["measure"]["runtimes"] = ["torch-cpu"]
    first = run_recipe(parse_recipe(raw))
    before = json.loads((first.run_dir / "run.json").read_text())
    stage_seconds = json.loads((first.run_dir / "01-train" / "metrics.json").read_text())["seconds"]
    assert before["compute_seconds"] == round(stage_seconds, 3) and before["cached_stages"] == 0

    again = run_recipe(parse_recipe(raw))
    after = json.loads((again.run_dir / "run.json").read_text())
    assert after["cached_stages"] == 1
    assert after["compute_seconds"] == before["compute_seconds"]  # the model still cost what it cost
    assert after["seconds"] < after["compute_seconds"]  # ...while this invocation read it from the cache
    html, _ = render([again.run_dir])
    assert f"stage compute {format_seconds(after['compute_seconds'])}" in html
    assert "1 stage(s) read from the cache" in html


def test_an_old_run_json_without_compute_seconds_sums_its_stages():
    summary = timing_summary({"seconds": 0.2, "stages": [{"cached": True}, {"cached": True}]}, [300.0, 63.0, None])
    assert summary["compute_seconds"] == 363.0 and summary["wall_seconds"] == 0.2
    assert summary["text"].startswith("stage compute 6 min 03 s") and "last invocation 0.2 s" in summary["text"]


@pytest.mark.slow
def test_the_invocation_time_includes_data_preparation_and_says_what_it_covers(tiny, monkeypatch):
    import time

    import toolkit.run.pipeline as pipeline
    from toolkit.run.timing import FROM_CALL, FROM_COMMAND, WITH_REPORT

    run_recipe(parse_recipe(_quick(tiny)))
    real = pipeline.preflight

    def slow_preflight(*args, **kwargs):  # data preparation the user waits for (13.9 s shown as 0.7 s)
        time.sleep(1.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "preflight", slow_preflight)
    again = run_recipe(parse_recipe(_quick(tiny)))  # cached: only the pre-flight takes time
    after = json.loads((again.run_dir / "run.json").read_text())
    assert after["cached_stages"] == 1 and after["seconds"] >= 1.5
    assert after["seconds_cover"] == FROM_CALL + WITH_REPORT
    from_command = run_recipe(parse_recipe(_quick(tiny)), command_started=time.time() - 20.0)
    info = json.loads((from_command.run_dir / "run.json").read_text())
    assert info["seconds"] >= 21.5 and info["seconds_cover"] == FROM_COMMAND + WITH_REPORT
    html = render([from_command.run_dir])[0]  # the report says what the seconds cover
    assert "last invocation" in html and FROM_COMMAND.split(": ", 1)[1] in html


def test_the_invocation_time_in_run_json_includes_building_the_report(tiny, monkeypatch):
    import time

    import toolkit.report as report

    real = report.write_report

    def slow_report(*args, **kwargs):  # the quickstart's report took 10 s that the CLI did not count
        time.sleep(1.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(report, "write_report", slow_report)
    result = run_recipe(parse_recipe(_quick(tiny)))
    assert json.loads((result.run_dir / "run.json").read_text())["seconds"] >= 1.5


def test_the_command_counts_from_the_process_start(monkeypatch, tmp_path):
    import subprocess
    import sys
    import time

    code = ("import time; time.sleep(0.6); from toolkit.run.timing import process_start_time; "
            "print(time.time() - process_start_time())")
    elapsed = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 0.6 <= elapsed < 30.0

    import toolkit.run.pipeline as pipeline
    from click.testing import CliRunner

    from toolkit.cli.main import main

    seen = {}

    def record(*args, **kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt  # stop here: only the arguments matter

    monkeypatch.setattr(pipeline, "run_recipe", record)
    (tmp_path / "r.yaml").write_text("name: r\n")
    CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml")])
    assert seen.get("command_started") is not None and seen["command_started"] <= time.time()
