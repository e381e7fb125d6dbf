"""A run whose stages were timed in different sessions (a cached stage beside a new one) times them all
together before its report, so every speedup compares timings taken together."""

from __future__ import annotations

import json

import pytest

from toolkit.measure.device import device_slug, timing_session
from toolkit.recipe import parse_recipe
from toolkit.report import render
from toolkit.run.pipeline import run_recipe


def _recipe(tiny, ratio):
    raw = tiny(name="r", stages=[{"train": {"epochs": 1}},
                                 {"prune": {"target": {"ratio": ratio}, "finetune_epochs": 0, "round_to": None}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    return parse_recipe(raw)


def _sessions(path) -> set:
    return {r.get("session") for r in json.loads(path.read_text())["latency"] if r["status"] == "ok"}


@pytest.mark.slow
def test_a_cached_stage_next_to_a_new_one_is_timed_again_with_it(tiny):
    first = run_recipe(_recipe(tiny, 0.5))
    train = first.run_dir / "01-train"
    assert not (train / "measurements").exists()  # one session: nothing to re-time
    old_session = _sessions(train / "metrics.json")
    timing_session.cache_clear()  # the next run is another process as far as timing goes
    second = run_recipe(_recipe(tiny, 0.25))  # train cached (old session), prune new
    assert [s.cached for s in second.stages] == [True, False]
    assert _sessions(train / "metrics.json") == old_session != _sessions(second.run_dir / "02-prune" /
                                                                         "metrics.json")
    files = sorted(second.run_dir.glob("*/measurements/*.json"))
    assert [p.parent.parent.name for p in files] == ["01-train", "02-prune"]
    together = {frozenset(_sessions(p)) for p in files}
    assert len(together) == 1 and next(iter(together)) == {timing_session()}
    assert all(r["interleaved"] is True for p in files for r in json.loads(p.read_text())["latency"]
               if r["status"] == "ok")  # what lets the INT8-slower flag follow these numbers
    assert not any(r.get("interleaved") for r in json.loads((train / "metrics.json").read_text())["latency"])
    record = json.loads(files[0].read_text())
    assert record["retimed_by"].startswith("compress run") and files[0].stem == device_slug(record["device"])
    from toolkit.report.collect import read_run

    view = read_run(second.run_dir)
    assert all(r["superseded_by"].startswith("compress run: stages timed in different sessions at ")
               for s in view.stages for _, _, r in s.superseded_records())  # not "compress bench"
    assert {r.get("session") for s in view.stages for r in s.current_latency()} == {timing_session()}
    recs = render([second.run_dir])[1]["runs"][0]["recommendations"]
    assert recs and all(r["timed_apart"] is False for r in recs if r["stage"] != "01-train")
    stamps = [p.stat().st_mtime_ns for p in files]
    timing_session.cache_clear()
    third = run_recipe(_recipe(tiny, 0.25))  # all cached, already timed together: nothing to re-time
    assert all(s.cached for s in third.stages)
    assert [p.stat().st_mtime_ns for p in files] == stamps
