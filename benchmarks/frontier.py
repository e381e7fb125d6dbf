"""The accuracy-latency frontier on CIFAR-10 photographs: the toolkit's recipe against its peers.

    python -m benchmarks.frontier [--quick | --smoke] [--model resnet20|resnet56] [--out DIR]

One baseline is trained once (the recipe's train stage, cached in benchmarks/work) and every contender
starts from it: baseline fp32; Torch-Pruning + fine-tune (as its README shows, same MACs as the
toolkit reached, same epochs); ONNX Runtime PTQ with defaults; NNCF PTQ; and the toolkit's recipe
(recipes/frontier_resnet20.yaml: prune to a measured latency target -> distill -> INT8). All are
measured in this process with the same harness on openvino-cpu and onnxruntime-cpu, batch 1 and 32.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.cifar import cifar10_root
from benchmarks.common import RESULTS, write_results
from benchmarks.frontier_measure import frontier_plot, measure, peers_on_or_below
from toolkit.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "work"


def budgets(mode: str, model: str, work: Path = WORK) -> list[str]:
    """--set overrides of the recipe for each mode."""
    common = [f"model.arch={model}", f"output={work}", f"name=frontier-{model}-{mode}"]
    if mode == "smoke":
        return common + ["data.dataset=synthetic", "data.num_samples=256", "data.num_classes=4", "data.image_size=32",
                         "data.root=null", "data.batch_size=32", "stages.0.train.epochs=2", "stages.2.distill.epochs=1",
                         "stages.1.prune.target.latency_speedup=1.2", "stages.1.prune.round_to=null",
                         "stages.3.quantize.calibration.samples=64", "measure.min_iters=3", "measure.warmup_s=0",
                         "measure.min_time_s=0", "measure.batch_sizes=[1]"]
    if mode == "quick":
        return common + ["data.limit_train=20000", "stages.0.train.epochs=12", "stages.2.distill.epochs=4"]
    return common


def recipe_summary(recipe) -> str:
    """'prune to a measured 1.5x on openvino-cpu b1 -> distill -> int8 (cpu)'."""
    t = recipe.stages[1].target
    goal = f"a measured {t.latency_speedup}x on {t.runtime} b{t.batch_size}" if t.latency_speedup else \
        f"{t.macs_speedup}x MACs" if t.macs_speedup else f"ratio {t.ratio}"
    return f"prune to {goal} -> distill -> int8 ({recipe.stages[3].scheme})"


def ptq_only(recipe, run):
    """The toolkit's post-training quantization alone, on the same trained baseline (its weights file)."""
    from toolkit.recipe import parse_recipe

    raw = recipe.to_dict()
    raw["name"] = recipe.name + "-ptq"
    raw["model"]["checkpoint"] = str(run.stages[0].directory / "model.safetensors")
    raw["stages"] = [{"quantize": recipe.stages[3].model_dump(mode="json")}]
    return parse_recipe(raw, base_dir=REPO / "recipes")


def overhead_floor(run) -> list[str]:
    """Fit batch-1 latency = fixed + per-MAC cost over the prune stage's measured curve: what pruning can reach."""
    extra = run.metrics["prune"]["extra"]
    step = (extra.get("steps") or [{}])[0]
    curve = step.get("curve") or []
    if len(curve) < 2:
        return []
    macs = np.array([extra["macs_before"]] + [p["macs"] for p in curve], dtype=float) / 1e9
    ms = np.array([step["base_latency_ms"]] + [p["latency_ms"] for p in curve])
    slope, fixed = np.polyfit(macs, ms, 1)
    share = fixed / step["base_latency_ms"]
    return [f"Measured limit: on {step['runtime']} at batch 1, latency ~ {fixed:.3f} ms + {slope:.2f} ms/GMAC "
            f"(least squares over the prune stage's {len(curve)} measured points): {share:.0%} of the baseline's "
            f"{step['base_latency_ms']:.3f} ms does not shrink with MACs, so pruning alone caps the batch-1 speedup "
            f"near {1 / share:.2f}x on this machine."]


def main(argv: list[str] | None = None) -> int:
    """Run the toolkit recipe and the peers, measure everything, write results/frontier[_mode].{md,json,svg}."""
    from toolkit.data import build_data
    from toolkit.run.pipeline import run_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="resnet20, 20k images, short budgets (< 30 min)")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, for tests")
    parser.add_argument("--model", default="resnet20", choices=["resnet20", "resnet56"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=WORK, help="where the run folders go (cached)")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    if mode != "smoke" and cifar10_root() is None:
        print("skipped: the CIFAR-10 archive ../shared/data/cifar10-jpeg.tar.gz is absent (see its README)")
        return 0
    started = time.perf_counter()
    recipe = load_recipe(REPO / "recipes" / "frontier_resnet20.yaml", budgets(mode, args.model, args.work))
    run = run_recipe(recipe)
    ptq = run_recipe(ptq_only(recipe, run))
    data = build_data(recipe.data, recipe.seed)
    timing = recipe.measure
    train_cfg = recipe.stages[2]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = measure(run, data, recipe, timing, tmp, peer_epochs=train_cfg.epochs, peer_lr=train_cfg.lr, ptq=ptq)
    budget = recipe.report.max_accuracy_drop
    base = next(r for r in rows if r["contender"] == "baseline fp32")
    toolkit_final = next(r for r in rows if r["contender"] == "toolkit: 04-quantize")
    floor = overhead_floor(run)
    speedup = base["best_b1_ms"] / toolkit_final["best_b1_ms"]
    drop = (base["top1"] - toolkit_final["top1"]) * 100
    verdicts = peers_on_or_below(rows)
    notes = [f"Mode {mode}, model {args.model}; baseline {base['top1'] * 100:.2f}% top-1 on {data.describe()['val_samples']}"
             f" test images; whole benchmark {time.perf_counter() - started:.0f} s.",
             f"Toolkit ({recipe_summary(recipe)}): {speedup:.2f}x lower batch-1 latency"
             f" than the baseline on the best CPU runtime ({toolkit_final['best_b1_runtime']}), top-1 "
             f"{-drop:+.2f} points. Target: >= 3x and <= {budget} point drop: "
             f"{'MET' if speedup >= 3 and drop <= budget else 'MISSED'}.",
             *[f"{peer}: {'on or below' if ok else 'ABOVE'} the toolkit's frontier (batch 1, best CPU runtime; "
               f"ties within 2% latency and 0.05 top-1 points count as on it)" for peer, ok in verdicts.items()],
             *floor]
    name = "frontier" + ("" if mode == "full" else f"_{mode}")
    columns = ["contender", "top1", "params", "macs", "size_kb", "ort_b1_p50", "ort_b1_p90", "ort_b32_p50",
               "ov_b1_p50", "ov_b1_p90", "ov_b32_p50", "best_b1_runtime", "best_b1_ms", "speedup_b1"]
    write_results(name, f"Accuracy-latency frontier: {args.model} on CIFAR-10", rows, columns, notes, args.out)
    frontier_plot(rows, args.out / f"{name}.svg", f"{args.model}, batch 1, best CPU runtime")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
