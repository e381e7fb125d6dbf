"""One wrong-typed value in a run folder is shown as missing; the report is still built (docs/run-folder.md promise)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from report_runs import quickstart_like_run  # noqa: E402  (tests/helpers is on sys.path)
from toolkit.report import write_report


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _prune_extra(d):
    d["extra"].update(method="magnitude", macs_before="many", macs_after=[1], params_before=None,
                      params_after={"x": 1}, params_removed="half", macs_speedup="2x", target_met="yes",
                      channels={"layer1": [8, 4]})


LATENCY_EDITS = [  # (stage, record index, change): one run holds all of them
    ("01-train", 0, {"p50_ms": -1.0}),
    ("01-train", 1, {"p50_ms": 0.0}),
    ("02-prune", 0, {"p50_ms": "fast"}),
    ("02-prune", 1, {"ci_low_ms": "low", "ci_high_ms": [2]}),
    ("03-distill", 0, {"system": {"before": "busy", "after": 3}}),
    ("03-distill", 1, {"system": {"before": {"load_avg": ["x"], "logical_cpus": "two"}}}),
    ("04-quantize", 0, {"system": ["busy"]}),
]


def test_wrong_typed_values_are_shown_as_missing(tmp_path):
    run = quickstart_like_run(tmp_path, "r")
    for stage, index, change in LATENCY_EDITS:
        _edit(run / stage / "metrics.json", lambda d: d["latency"][index].update(change))
    _edit(run / "02-prune" / "metrics.json", _prune_extra)
    _edit(run / "04-quantize" / "metrics.json", lambda d: d["extra"].update(
        scheme="x", fp32_top1="hi", engines=[{"p50_ms": "a", "build_seconds": "b"}], layer_precisions=[1],
        sensitivity=[{"node": "n", "top1_if_float": "t"}], placement={"ok": False, "findings": "none"}))
    html = write_report([run], tmp_path / "report.html").read_text()
    assert "MACs - &rarr; -" in html and "(-% removed)" in html


def _paths(node, prefix=()):
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        yield from _paths(child, (*prefix, key))


values = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(allow_nan=True),
                   st.text(max_size=6), st.lists(st.integers(-2, 3), max_size=2), st.just({}))


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_value_edited_in_a_metrics_file_still_builds_the_report(tmp_path_factory, data):
    work = tmp_path_factory.mktemp("edit")
    run = quickstart_like_run(work, "r")
    path = run / data.draw(st.sampled_from(["01-train", "02-prune", "04-quantize"])) / "metrics.json"
    doc = json.loads(path.read_text())
    where = data.draw(st.sampled_from([p for p in _paths(doc) if p]), label="where")
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = data.draw(values, label="value")
    path.write_text(json.dumps(doc))
    write_report([run], work / "report.html")
