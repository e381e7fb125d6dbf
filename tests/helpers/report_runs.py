"""Run folders written by hand, shaped like the quickstart's, for report tests (no training needed)."""

from __future__ import annotations

import json
from pathlib import Path

DEVICE = {"cpu": "Test CPU", "isa": ["avx512_vnni"], "logical_cpus": 2, "gpu": None, "versions": {"torch": "x"}}
SAMPLES = 360


def _latency(p50: dict[str, float]) -> list[dict]:
    return [{"runtime": rt, "batch_size": 1, "status": "ok", "p50_ms": ms, "p90_ms": ms * 1.1, "p99_ms": ms * 1.2,
             "throughput_ips": 1000 / ms, "threads": 2, "precision": "fp32"} for rt, ms in p50.items()]


def quickstart_like_run(root: Path, name: str, *, baseline_wins: bool = False) -> Path:
    """train -> prune -> distill -> quantize on 360 validation images, top-1 within 0.6 points.

    `baseline_wins`: the baseline is the fastest and most accurate model (a one-point Pareto frontier)."""
    slow = 1.0 if not baseline_wins else 4.0
    stages = [
        ("train", 0.9861, {"onnxruntime-cpu": 0.054, "openvino-cpu": 0.050},
         [{"epoch": e, "loss": 2.2 / e, "val_top1": 0.9 + e * 0.01} for e in range(1, 6)]),
        ("prune", 0.9806, {"onnxruntime-cpu": 0.052 * slow, "openvino-cpu": 0.049 * slow}, None),
        ("distill", 0.9833, {"onnxruntime-cpu": 0.052 * slow, "openvino-cpu": 0.0495 * slow},
         [{"epoch": e, "loss": 0.6 / e, "val_top1": 0.97 + e * 0.002} for e in range(1, 4)]),
        ("quantize", 0.9833, {"onnxruntime-cpu": 0.081 * slow, "openvino-cpu": 0.051 * slow}, None),
    ]
    run_dir = root / name
    entries = []
    for index, (stage, top1, p50, history) in enumerate(stages, start=1):
        label = f"{index:02d}-{stage}"
        (run_dir / label).mkdir(parents=True)
        metrics = {"stage": stage, "index": index, "status": "ok", "reason": None, "seconds": 10.0 * index,
                   "model": {"format": "torch", "params": 120000 // index, "macs": 4_600_000 // index,
                             "size_bytes": 490000 // index},
                   "accuracy": {"top1": top1, "top5": 1.0, "samples": SAMPLES}, "latency": _latency(p50),
                   "device": DEVICE, "extra": {"history": history} if history else {}}
        (run_dir / label / "metrics.json").write_text(json.dumps(metrics))
        entries.append({"index": index, "name": stage, "type": stage, "dir": label, "status": "ok",
                        "seconds": 10.0 * index, "cached": True})
    (run_dir / "run.json").write_text(json.dumps({
        "name": name, "status": "complete", "stages": entries, "seconds": 0.2, "compute_seconds": 100.0,
        "cached_stages": 4, "data": {"classes": list("0123456789"), "train_samples": 1437, "val_samples": SAMPLES,
                                     "image_size": 32}}))
    (run_dir / "recipe.yaml").write_text(f"name: {name}\n")
    return run_dir
