"""GPU truth: the quickstart trained on CUDA and measured with torch-cuda, on a machine with an NVIDIA GPU.

    python -m benchmarks.gpu_check [--out DIR]        (benchmarks/gpu_check.sh installs and then runs this)

Runs recipes/quickstart.yaml with `device: cuda` (the train, distill and QAT-free stages train on the GPU),
measurement on torch-cuda, torch-cuda-fp16, torch-cpu and onnxruntime-cpu, and its engine stage (built
where TensorRT is installed, skipped with the reason otherwise). Writes gpu_check.json/.md (per stage:
status, top-1, p50 per runtime and batch size) into --out. Refuses to run without a CUDA device.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from benchmarks.common import write_results
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "work" / "gpu_check")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible to torch; nothing measured", file=sys.stderr)
        return 2
    raw = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text())
    raw["device"] = "cuda"
    raw["measure"]["runtimes"] = ["torch-cuda", "torch-cuda-fp16", "torch-cpu", "onnxruntime-cpu"]
    raw["output"] = str(args.out / "runs")
    result = run_recipe(parse_recipe(raw), fresh=True)
    rows = []
    for stage in result.stages:
        metrics = stage.metrics
        base = {"stage": metrics.get("name"), "status": metrics.get("status"),
                "top1": (metrics.get("accuracy") or {}).get("top1"), "seconds": metrics.get("seconds")}
        for record in metrics.get("latency") or []:
            rows.append({**base, "runtime": record["runtime"], "batch": record["batch_size"],
                         "p50_ms": record.get("p50_ms"), "latency_status": record["status"]})
        if not metrics.get("latency"):
            rows.append({**base, "reason": metrics.get("reason")})
    notes = [f"GPU: {torch.cuda.get_device_name(0)}; CUDA {torch.version.cuda}; torch {torch.__version__}",
             "recipes/quickstart.yaml with device: cuda; measured on torch-cuda(-fp16), torch-cpu, onnxruntime-cpu"]
    paths = write_results("gpu_check", "Quickstart on an NVIDIA GPU (train on CUDA, torch-cuda latency)", rows,
                          ["stage", "status", "top1", "runtime", "batch", "p50_ms", "latency_status", "seconds",
                           "reason"], notes, args.out)
    print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
