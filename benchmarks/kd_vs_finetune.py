"""Does distillation beat plain fine-tuning after pruning? Measured on CIFAR-10 photographs.

    python -m benchmarks.kd_vs_finetune [--quick] [--out DIR]

Trains a ResNet-20 baseline, prunes it to 2x fewer MACs, then recovers it (a) by plain fine-tuning
and (b) by distillation from the baseline: same epochs, same seed, same optimiser. Both recoveries
run as toolkit recipes; the baseline and the pruned model are computed once and shared (cache).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.cifar import cifar10_root
from benchmarks.common import RESULTS, write_results
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe

WORK = Path(__file__).parent / "work"


def recipe(root: Path | None, quick: bool, recovery: dict, work: Path) -> dict:
    """The shared baseline -> prune chain plus one recovery stage (root None: tiny synthetic data)."""
    data = {"dataset": "imagefolder", "root": str(root), "image_size": 32, "batch_size": 128,
            "limit_train": 20000 if quick else None} if root is not None else \
        {"dataset": "synthetic", "image_size": 16, "num_samples": 256, "num_classes": 4, "batch_size": 32}
    smoke = root is None
    return {
        "name": "kd-vs-finetune" + ("-smoke" if smoke else "-quick" if quick else ""), "seed": 0,
        "model": {"arch": "resnet20", "kwargs": {"width": 8} if smoke else {}},
        "data": data,
        "measure": {"runtimes": ["onnxruntime-cpu"], "batch_sizes": [1], "warmup_s": 0.1, "min_iters": 20,
                    "min_time_s": 0.1},
        "stages": [{"train": {"epochs": 2 if smoke else 10 if quick else 30, "lr": 0.1, "warmup_epochs": 1}},
                   {"prune": {"method": "l2", "target": {"macs_speedup": 2.0}, "round_to": None if smoke else 8}},
                   recovery],
        "output": str(work),
    }


def main(argv: list[str] | None = None) -> int:
    """Run both recoveries and write benchmarks/results/kd_vs_finetune[_quick].{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k train images, 10+3 epochs (< 20 min on 2 cores)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--data", type=Path, default=None, help="CIFAR-10 ImageFolder root")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, for tests")
    args = parser.parse_args(argv)
    root = None if args.smoke else (args.data or cifar10_root())
    if root is None and not args.smoke:
        print("skipped: the CIFAR-10 archive ../shared/data/cifar10-jpeg.tar.gz is absent (see its README)")
        return 0
    epochs = 1 if args.smoke else 3 if args.quick else 10
    options = {"epochs": epochs, "lr": 0.01, "warmup_epochs": 0}
    arms = {"fine-tune": {"train": {"name": "recover", **options}},
            "distill": {"distill": {"name": "recover", "teacher": "train", "temperature": 4.0, "alpha": 0.9,
                                    **options}}}
    rows, started = [], time.perf_counter()
    for arm, stage in arms.items():
        result = run_recipe(parse_recipe(recipe(root, args.quick, stage, args.work)))
        base, pruned, recovered = (s.metrics for s in result.stages)
        rows.append({"recovery": arm, "epochs": epochs, "baseline_top1": base["accuracy"]["top1"],
                     "pruned_top1": pruned["accuracy"]["top1"], "recovered_top1": recovered["accuracy"]["top1"],
                     "macs_speedup": pruned["extra"]["macs_speedup"], "recovery_seconds": recovered["seconds"],
                     "baseline_seconds": base["seconds"]})
        print(rows[-1], flush=True)
    gap = rows[1]["recovered_top1"] - rows[0]["recovered_top1"]
    notes = [("tiny synthetic data (smoke test)" if args.smoke else
              f"ResNet-20 on CIFAR-10 JPEGs ({'20,000' if args.quick else 'all 50,000'} train images, 10,000 test)."),
             f"Distillation minus fine-tuning: {gap * 100:+.2f} top-1 points after {epochs} epochs each.",
             "Same seed, optimiser (SGD, cosine, lr 0.01) and epochs for both; KD: T=4, alpha=0.9, teacher = baseline.",
             f"Whole benchmark wall time: {time.perf_counter() - started:.0f} s (cached stages count once)."]
    write_results("kd_vs_finetune" + ("_smoke" if args.smoke else "_quick" if args.quick else ""),
                  "Distillation vs fine-tuning after pruning",
                  rows, ["recovery", "epochs", "baseline_top1", "pruned_top1", "recovered_top1", "macs_speedup",
                         "recovery_seconds", "baseline_seconds"], notes, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
