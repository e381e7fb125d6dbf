"""MACs speedup against measured latency speedup of pruning, on the CPU runtimes.

    python benchmarks/prune_latency.py [--quick] [--out DIR]

Prunes each model to 2x fewer MACs (L2 magnitude, channels rounded to 8; the quickstart net to 2)
and times the unpruned and pruned ONNX exports on onnxruntime-cpu and openvino-cpu at batch 1 and 32.
Latency only: weights are random, accuracy is the quickstart's business.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import torch

from benchmarks.common import RESULTS, write_results
from toolkit.artifacts import ModelArtifact
from toolkit.measure.latency import time_samples
from toolkit.measure.rounds import wall_sampler
from toolkit.measure.profile import count_macs_params
from toolkit.models import build_model
from toolkit.convert.onnx import export_onnx
from toolkit.prune import PrunePlan, prune_once, search_ratio
from toolkit.runtimes import get_runtime
from toolkit.config import MeasureSpec, ModelSpec

CASES = [("seed_cnn (quickstart)", "seed_cnn", 32, 2), ("resnet18", "resnet18", 224, 8)]
RUNTIMES = ("onnxruntime-cpu", "openvino-cpu")


def main() -> None:
    """Measure and write benchmarks/results/prune_latency.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed runs, smaller models only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    timing = MeasureSpec(warmup_s=0.3 if args.quick else 1.0, min_iters=10 if args.quick else 50,
                         min_time_s=0.2 if args.quick else 2.0)
    cases = [(label, arch, 64 if args.quick and size > 64 else size, r) for label, arch, size, r in CASES]
    rows = []
    for label, arch, size, round_to in cases:
        torch.manual_seed(0)
        model = build_model(ModelSpec(arch=arch), 10, size).eval()
        x = torch.randn(1, 3, size, size)
        base_macs = count_macs_params(model, x)[0]
        plan = PrunePlan(round_to=round_to, num_classes=10)
        ratio, _, _ = search_ratio(
            lambda r: base_macs / count_macs_params(prune_once(copy.deepcopy(model), x, plan, r), x)[0], 2.0,
            high=0.8)
        pruned = prune_once(copy.deepcopy(model), x, plan, ratio)
        macs_speedup = base_macs / count_macs_params(pruned, x)[0]
        with tempfile.TemporaryDirectory() as tmp:
            files = {}
            for tag, net in (("base", model), ("pruned", pruned)):
                files[tag] = Path(tmp) / f"{tag}.onnx"
                export_onnx(net, files[tag], x)
            for runtime_name in RUNTIMES:
                runtime = get_runtime(runtime_name)
                for bs in (1, 32):
                    images = x.repeat(bs, 1, 1, 1).numpy()
                    ms = {}
                    for tag, path in files.items():
                        session = runtime.load(ModelArtifact("onnx", path))
                        ms[tag] = time_samples(wall_sampler(session, images), timing)["p50_ms"]
                    rows.append({"model": label, "input": f"{size}x{size}", "runtime": runtime_name, "batch": bs,
                                 "macs_speedup": round(macs_speedup, 3), "base_p50_ms": ms["base"],
                                 "pruned_p50_ms": ms["pruned"],
                                 "latency_speedup": round(ms["base"] / ms["pruned"], 3)})
                    print(rows[-1], flush=True)
    notes = ["MACs speedup is what the prune stage targets; latency speedup is what the runtime delivered.",
             "Pruned with L2 magnitude (Torch-Pruning), uniform ratio found by bisection to 2x MACs within 5%."]
    write_results("prune_latency" + ("_quick" if args.quick else ""), "Pruning: MACs speedup vs measured latency",
                  rows, ["model", "input", "runtime", "batch", "macs_speedup", "base_p50_ms", "pruned_p50_ms",
                         "latency_speedup"], notes, args.out)


if __name__ == "__main__":
    main()
