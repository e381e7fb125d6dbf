"""Peers (peers.json): the recommendation never picks a stage that a peer or another stage dominates, and says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.formatting import markdown_text
from toolkit.report import render, summary_markdown
from toolkit.report.analysis import recommend
from toolkit.report.collect import RunView, StageView
from toolkit.report.peers import read_peers, write_peers

DEVICE = {"cpu": "fake cpu"}


def record(runtime: str, batch: int, p50: float, spread: float = 0.02) -> dict:
    return {"runtime": runtime, "batch_size": batch, "status": "ok", "p50_ms": p50,
            "ci_low_ms": p50 * (1 - spread), "ci_high_ms": p50 * (1 + spread)}


def stage(index: int, name: str, top1: float, records: list[dict]) -> StageView:
    return StageView(index, name, name, "ok", None, {"accuracy": {"top1": top1}, "device": DEVICE,
                                                     "latency": records, "model": {}})


def run_with(tmp_path: Path, peers: list[dict] | None) -> RunView:
    if peers is not None:
        write_peers(tmp_path, peers)
    stages = [stage(1, "train", 0.90, [record("openvino-cpu", 1, 2.0), record("openvino-cpu", 32, 40.0)]),
              stage(2, "prune", 0.895, [record("openvino-cpu", 1, 1.2), record("openvino-cpu", 32, 25.0)]),
              stage(3, "quantize", 0.893, [record("openvino-cpu", 1, 0.6), record("openvino-cpu", 32, 9.0)])]
    return RunView(tmp_path, {}, "", stages)


def peer(name: str, top1: float, b1: float, b32: float, device: dict | None = None) -> dict:
    entry = {"name": name, "top1": top1, "source": "test",
             "latency": [record("openvino-cpu", 1, b1), record("openvino-cpu", 32, b32)]}
    return entry | ({"device": device} if device else {})


def test_without_peers_the_fastest_stage_within_budget_is_picked_and_the_why_says_nothing_beats_it(tmp_path):
    recs = recommend(run_with(tmp_path, None), max_drop_points=1.0)
    assert [r["stage"] for r in recs] == ["03-quantize", "03-quantize"] and not any(r["peer"] for r in recs)
    assert all("no other stage or peer" in r["why"] and not r["peers_compared"] for r in recs)


def test_a_dominating_peer_is_recommended_and_names_the_stage_it_beats(tmp_path):
    # batch 1: the peer is as accurate and 2x faster -> it wins; batch 32: slower -> the stage stays
    recs = recommend(run_with(tmp_path, [peer("NNCF PTQ", 0.894, b1=0.3, b32=12.0, device=DEVICE)]), 1.0)
    b1, b32 = recs
    assert b1["peer"] and b1["stage"] == "NNCF PTQ" and b1["best_of_run"]["stage"] == "03-quantize"
    assert "dominates this run's best there, 03-quantize" in b1["why"]
    assert not b32["peer"] and b32["stage"] == "03-quantize" and b32["peers_compared"] == ["NNCF PTQ"]


def test_a_peer_inside_the_latency_noise_is_a_tie_that_the_run_keeps_and_a_less_accurate_one_cannot_win(tmp_path):
    tied = peer("tied", 0.893, b1=0.605, b32=9.05)  # same accuracy, latency inside the intervals
    worse = peer("fast but over budget", 0.80, b1=0.1, b32=1.0)
    recs = recommend(run_with(tmp_path, [tied, worse]), 1.0)
    assert all(r["stage"] == "03-quantize" and not r["peer"] for r in recs)
    assert all(r["peers_compared"] == ["fast but over budget", "tied"] for r in recs)


def test_a_peer_on_another_device_is_not_compared(tmp_path):
    other = peer("elsewhere", 0.95, b1=0.01, b32=0.1, device={"cpu": "another cpu"})
    recs = recommend(run_with(tmp_path, [other]), 1.0)
    assert all(r["stage"] == "03-quantize" and not r["peers_compared"] for r in recs)


def test_the_pick_is_never_dominated_even_through_a_chain_of_latency_ties(tmp_path):
    # fastest 0.60 [0.57, 0.63]; the more accurate stage at 0.64 [0.62, 0.66] overlaps it, so it is a tie...
    stages = [stage(1, "train", 0.90, [record("openvino-cpu", 1, 2.0)]),
              stage(2, "a", 0.891, [record("openvino-cpu", 1, 0.60, spread=0.05)]),
              stage(3, "b", 0.893, [record("openvino-cpu", 1, 0.64, spread=0.03)])]
    # ...and a peer tied with b (not with a) that is more accurate still dominates b: it must win
    write_peers(tmp_path, [{"name": "p", "top1": 0.899, "latency": [record("openvino-cpu", 1, 0.67, 0.03)]}])
    [rec] = recommend(RunView(tmp_path, {}, "", stages), 1.0)
    assert rec["stage"] == "p" and rec["peer"]


def test_report_and_summary_say_why_and_bad_peer_entries_are_warnings(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"name": "r", "status": "ok", "stages": []}))
    write_peers(run_dir, [peer("NNCF PTQ", 0.9, 0.3, 12.0)])
    data = json.loads((run_dir / "peers.json").read_text())
    data["peers"] += [{"name": "broken", "top1": 90}, "not an object",
                      {"name": "elsewhere", "top1": 0.5, "device": "jetson-agx-orin", "latency": []}]
    (run_dir / "peers.json").write_text(json.dumps(data))
    usable, problems = read_peers(run_dir)
    assert [p["name"] for p in usable] == ["NNCF PTQ"] and "broken: top1 must be a fraction" in problems[0]
    assert "entry 3: no name" in problems[1] and "elsewhere: device must be" in problems[2]
    html, summary = render([run_dir])
    assert "broken: top1 must be a fraction" in html and summary["runs"][0]["warnings"] == problems
    assert "**Warning:** " + markdown_text(problems[2]) in summary_markdown(summary)  # escaped: a path has _
    with pytest.raises(ValueError, match="top1"):
        write_peers(tmp_path, [{"name": "x", "top1": 2.0, "latency": []}])
