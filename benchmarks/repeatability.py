"""How repeatable is a latency measurement? The same model, measured twice in one process.

    python -m benchmarks.repeatability [--quick] [--out DIR]

Uses the toolkit's own measurement (time-based warm-up, at least 50 timed runs, percentiles) on each
CPU runtime; the ratio of the two p50s says how much a difference between two stages must exceed
before it means anything on this machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import RESULTS, write_results
from toolkit.artifacts import ModelArtifact
from toolkit.measure.latency import time_calls
from toolkit.models import build_model
from toolkit.onnxutil import export_onnx
from toolkit.runtimes import get_runtime
from toolkit.specs import MeasureSpec, ModelSpec


def main(argv: list[str] | None = None) -> int:
    """Measure twice, write benchmarks/results/repeatability[_quick].{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="resnet20 at 32x32 only")
    parser.add_argument("--smoke", action="store_true", help="tiny timing, for tests")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cases = [("resnet20", 32)] + ([] if args.quick or args.smoke else [("resnet18", 224)])
    spec = MeasureSpec(warmup_s=0.0, min_iters=3, min_time_s=0.0) if args.smoke else MeasureSpec()
    rows = []
    for arch, size in cases:
        torch.manual_seed(0)
        model = build_model(ModelSpec(arch=arch), 10, size).eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.onnx"
            export_onnx(model, path, torch.randn(1, 3, size, size))
            for runtime_name in ("torch-cpu", "onnxruntime-cpu", "openvino-cpu"):
                runtime = get_runtime(runtime_name)
                session = runtime.load(model if runtime_name == "torch-cpu" else ModelArtifact("onnx", path))
                for bs in (1, 32):
                    images = torch.randn(bs, 3, size, size).numpy()
                    first, second = (time_calls(lambda: session.predict(images), spec) for _ in range(2))
                    rows.append({"model": f"{arch} {size}x{size}", "runtime": runtime_name, "batch": bs,
                                 "p50_first_ms": first["p50_ms"], "p50_second_ms": second["p50_ms"],
                                 "ratio": round(second["p50_ms"] / first["p50_ms"], 4),
                                 "p90_over_p50": round(first["p90_ms"] / first["p50_ms"], 3),
                                 "iterations": first["iterations"]})
                    print(rows[-1], flush=True)
    worst = max(abs(r["ratio"] - 1) for r in rows)
    notes = [f"Largest p50 difference between two measurements of the same model: {worst:.1%}.",
             "Each measurement: the toolkit's default timing (0.5 s warm-up, >= 50 runs and >= 1 s)."]
    name = "repeatability" + ("_smoke" if args.smoke else "_quick" if args.quick else "")
    write_results(name, "Latency repeatability: the same model measured twice", rows,
                  ["model", "runtime", "batch", "p50_first_ms", "p50_second_ms", "ratio", "p90_over_p50",
                   "iterations"], notes, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
