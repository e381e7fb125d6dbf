"""One answer per machine: `compress bench` on the run's own machine supersedes the run's latencies in the
report (the old ones are listed as superseded); a bench on another machine is shown beside them."""

from __future__ import annotations

import json
from pathlib import Path

from report_runs import DEVICE, quickstart_like_run  # noqa: E402  (tests/helpers is on sys.path)
from toolkit.report import render
from toolkit.report.collect import read_run

JETSON = {"cpu": "ARMv8 Processor rev 1 (v8l)", "isa": ["asimddp"], "logical_cpus": 6, "gpu": None,
          "jetson": {"board": "NVIDIA Jetson Orin Nano"}}


def _bench(run: Path, device: dict, slug: str, scale: float) -> None:
    for stage in sorted(p for p in run.iterdir() if (p / "metrics.json").is_file()):
        metrics = json.loads((stage / "metrics.json").read_text())
        latency = [{**r, "p50_ms": r["p50_ms"] * scale} for r in metrics["latency"]
                   if r["runtime"] == "onnxruntime-cpu"]
        (stage / "measurements").mkdir(exist_ok=True)
        (stage / "measurements" / f"{slug}.json").write_text(json.dumps({
            "stage": metrics["stage"], "index": metrics["index"], "measured": "2026-12-06T04:00:00+0000",
            "device_slug": slug, "latency": latency, "device": device}))


def test_a_bench_on_the_same_machine_supersedes_and_another_machine_stands_beside(tmp_path):
    run = quickstart_like_run(tmp_path, "r")
    _bench(run, {**DEVICE, "versions": {"torch": "newer"}}, "test-cpu", 2.0)  # same machine, other versions
    _bench(run, JETSON, "armv8-processor-rev-1-v8l", 10.0)
    view = read_run(run)
    assert set(view.devices()) == {"test-cpu", "armv8-processor-rev-1-v8l"}  # not "test-cpu (compress bench)"
    train = view.stages[0]
    ours = [(slug, r["runtime"], r["p50_ms"]) for slug, _, r in train.latency_records() if slug == "test-cpu"]
    assert sorted(ours) == [("test-cpu", "onnxruntime-cpu", 0.108), ("test-cpu", "openvino-cpu", 0.05)]
    assert [r["superseded_by"] for _, _, r in train.superseded_records()] == [
        "compress bench at 2026-12-06T04:00:00+0000"]
    assert sorted(r["p50_ms"] for r in train.current_latency()) == [0.05, 0.108]  # what the CLI table shows
    html, summary = render([run])
    assert "superseded" in html and "re-measured by compress bench at 2026-12-06T04:00:00+0000" in html
    devices = {r["device"] for r in summary["runs"][0]["recommendations"]}
    assert devices == {"test-cpu", "armv8-processor-rev-1-v8l"}
