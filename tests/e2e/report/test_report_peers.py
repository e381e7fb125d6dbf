"""A real run folder (the quickstart) with a peers.json: the report and summary recommend the dominating peer."""

from __future__ import annotations

import json
import shutil

from toolkit.report import render
from toolkit.report.peers import write_peers


def record(runtime: str, batch: int, p50: float, spread: float = 0.02) -> dict:
    return {"runtime": runtime, "batch_size": batch, "status": "ok", "p50_ms": p50,
            "ci_low_ms": p50 * (1 - spread), "ci_high_ms": p50 * (1 + spread)}


def test_a_run_folder_with_peers_renders_the_peer_pick_and_its_reason(quickstart_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(quickstart_run / "runs" / "quickstart", run_dir)
    device = json.loads((run_dir / "01-train" / "metrics.json").read_text())["device"]
    best = min((r for s in sorted(run_dir.glob("0*/metrics.json"))
                for r in json.loads(s.read_text()).get("latency") or []
                if r.get("batch_size") == 1 and r.get("status") == "ok"),
               key=lambda r: r["p50_ms"])
    write_peers(run_dir, [{"name": "a perfect peer", "top1": 1.0, "device": device, "source": "test",
                           "latency": [record(best["runtime"], 1, best["p50_ms"] / 100)]}])
    html, summary = render([run_dir])
    [b1] = [r for r in summary["runs"][0]["recommendations"] if r["batch_size"] == 1]
    assert b1["peer"] and b1["stage"] == "a perfect peer" and "dominates this run's best there" in b1["why"]
    assert "(peer: not made by this run)" in html and "a perfect peer (a peer, not made by this run)" in html


def test_the_accuracy_latency_chart_shows_the_peers(quickstart_run, tmp_path, monkeypatch):
    from toolkit.report import build

    run_dir = tmp_path / "run"
    shutil.copytree(quickstart_run / "runs" / "quickstart", run_dir)
    write_peers(run_dir, [{"name": "NNCF PTQ", "top1": 0.9, "source": "test",
                           "latency": [record("openvino-cpu", 1, 0.5)]}])
    drawn = []
    real = build.accuracy_vs_latency
    monkeypatch.setattr(build, "accuracy_vs_latency", lambda series, device: drawn.append(series) or real(series,
                                                                                                         device))
    render([run_dir])
    [series] = drawn
    assert [p.stage for p in series["quickstart: peers"]] == ["NNCF PTQ"] and len(series) == 2
