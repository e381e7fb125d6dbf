"""A cached rerun keeps the compute its stages cost apart from the last invocation's wall time."""

from __future__ import annotations

import json

import pytest

from toolkit.pipeline import run_recipe
from toolkit.recipe import parse_recipe
from toolkit.report import render
from toolkit.run_timing import format_seconds, timing_summary


def _quick(tiny):
    raw = tiny(stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    return raw


@pytest.mark.slow
def test_cached_rerun_keeps_compute_time_apart_from_its_own_wall_time(tiny):
    first = run_recipe(parse_recipe(_quick(tiny)))
    before = json.loads((first.run_dir / "run.json").read_text())
    stage_seconds = json.loads((first.run_dir / "01-train" / "metrics.json").read_text())["seconds"]
    assert before["compute_seconds"] == round(stage_seconds, 3) and before["cached_stages"] == 0

    again = run_recipe(parse_recipe(_quick(tiny)))
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
