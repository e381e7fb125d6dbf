"""Uniform against sensitivity-aware pruning allocation at the same measured latency target.

    python -m benchmarks.allocation [--quick | --smoke] [--target 1.5] [--runtime openvino-cpu] [--batch 1]
    python -m benchmarks.allocation --quick --macs 2.0      # the same comparison at a MACs target

One ResNet-20 baseline is trained on CIFAR-10 photographs (cached in benchmarks/work). Run A prunes it
with `allocation: uniform` to the latency target, run B starts from the same weights with
`allocation: sensitivity` (reusing A's `compress analyze` result, whose wall time is recorded); both then
recover by distillation from the baseline for the same epochs. Top-1 before and after recovery and the
latency on each CPU runtime (interleaved rounds, benchmarks.frontier_measure) are written to
results/allocation[_mode].{md,json}, with the load average: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.cifar import cifar10_root
from benchmarks.common import RESULTS, write_results
from toolkit.recipe import load_recipe, parse_recipe

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "work"


def overrides(mode: str, target: float, runtime: str, batch: int, work: Path, macs: float | None = None) -> list[str]:
    """--set overrides of recipes/frontier_resnet20.yaml: train -> prune (uniform) -> distill, no quantize."""
    goal = ["stages.1.prune.target.latency_speedup=null", f"stages.1.prune.target.macs_speedup={macs}"] if macs \
        else [f"stages.1.prune.target.latency_speedup={target}"]
    common = [f"output={work}", f"name=allocation-{mode}", *goal,
              f"stages.1.prune.target.runtime={runtime}", f"stages.1.prune.target.batch_size={batch}"]
    if mode == "smoke":
        return common + ["data.dataset=synthetic", "data.num_samples=256", "data.num_classes=4", "data.root=null",
                         "data.batch_size=32", "stages.0.train.epochs=2", "stages.2.distill.epochs=1",
                         "stages.1.prune.round_to=null", "measure.min_iters=3", "measure.warmup_s=0",
                         "measure.min_time_s=0", "measure.batch_sizes=[1]", "data.image_size=16",
                         "model.kwargs={width: 8}"]
    if mode == "quick":
        return common + ["data.limit_train=2000", "data.limit_val=500", "stages.0.train.epochs=4",
                         "stages.2.distill.epochs=1", "measure.min_iters=20", "measure.min_time_s=0.3",
                         "measure.warmup_s=0.1"]
    return common


def sensitivity_recipe(recipe, run, mode: str):
    """Run B: the baseline's weights as input, prune with allocation: sensitivity, the same distill."""
    raw = recipe.to_dict()
    raw["name"] = f"{recipe.name}-sensitivity"
    raw["model"]["checkpoint"] = str(run.stages[0].directory / "model.safetensors")
    prune = dict(raw["stages"][1]["prune"], allocation="sensitivity")
    if mode == "smoke":
        prune["sensitivity"] = {"samples": 64, "rounds": 1, "check_rounds": 1}
    distill = dict(raw["stages"][2]["distill"], teacher="input")
    raw["stages"] = [{"prune": prune}, {"distill": distill}]
    return parse_recipe(raw, base_dir=REPO / "recipes")


def _row(name: str, run, prune: str, distill: str) -> dict[str, Any]:
    p, d = run.metrics[prune], run.metrics[distill]
    extra = p["extra"]
    step = (extra.get("steps") or [{}])[0]
    alloc = step.get("allocation") or {}
    return {"allocation": name, "top1_before_recovery": p["accuracy"]["top1"], "top1_after_recovery":
            d["accuracy"]["top1"], "macs": p["model"]["macs"], "params": p["model"]["params"],
            "macs_speedup": extra.get("macs_speedup"), "search_speedup": step.get("speedup") or _uniform_speedup(step),
            "target_met": extra.get("target_met"), "predicted_ms": alloc.get("predicted_latency_ms"),
            "groups_pruned": len(alloc.get("ratios") or {}) or None}


def _uniform_speedup(step: dict[str, Any]) -> float | None:
    curve = {p["ratio"]: p["speedup"] for p in step.get("curve") or []}
    return curve.get(step.get("ratio"))


def verdict(gap: float, rows: list[dict[str, Any]], timed: list[dict[str, Any]] | None, key: str | None) -> str:
    """The target's verdict: MET / NOT MET only when the two arms are comparable, else NOT COMPARABLE.

    `rows` are the uniform and sensitivity rows (their `target_met`); `timed` the two arms' interleaved
    latencies and `key` the target's `{runtime}_b{batch}` (None for a MACs target, matched on MACs). The arms
    are not comparable when either missed its own target, or when their measured p50 differ by more than the
    sum of their p50-to-p90 spreads (not the same latency, so top-1 is not compared at equal cost).
    """
    reasons = [f"{r['allocation']} missed its target" for r in rows if r.get("target_met") is False]
    if timed is not None and key is not None and all(f"{key}_p90" in t for t in timed):
        (a, b) = timed
        gap_ms = abs(a[f"{key}_p50"] - b[f"{key}_p50"])
        spread = (a[f"{key}_p90"] - a[f"{key}_p50"]) + (b[f"{key}_p90"] - b[f"{key}_p50"])
        if gap_ms > spread:
            reasons.append(f"achieved {key} p50 {a[f'{key}_p50']} vs {b[f'{key}_p50']} ms differ by more than "
                           f"their p50-p90 spreads ({spread:.4g} ms)")
    if reasons:
        return f"target >= +1.5: NOT COMPARABLE ({'; '.join(reasons)})"
    return f"target >= +1.5: {'MET' if gap >= 1.5 else 'NOT MET'}"


def main(argv: list[str] | None = None) -> int:
    """Run both allocations, measure them together, write results/allocation[_mode].{md,json}."""
    from benchmarks.frontier_measure import RUNTIMES, _row as model_row, add_latencies
    from toolkit.analyze.run import analyze_recipe
    from toolkit.data import build_data
    from toolkit.export.onnx import export_onnx
    from toolkit.run.pipeline import run_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2k train images, 4+1 epochs: fits a busy 2-core machine")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, for tests")
    parser.add_argument("--target", type=float, default=1.5, help="measured latency speedup")
    parser.add_argument("--macs", type=float, default=None, help="a MACs speedup target instead of latency")
    parser.add_argument("--runtime", default="openvino-cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    if mode != "smoke" and cifar10_root() is None:
        print("skipped: the CIFAR-10 archive ../shared/data/cifar10-jpeg.tar.gz is absent (see its README)")
        return 0
    started = time.perf_counter()
    load_before = os.getloadavg()
    recipe = load_recipe(REPO / "recipes" / "frontier_resnet20.yaml",
                         overrides(mode, args.target, args.runtime, args.batch, args.work, args.macs))
    raw = recipe.to_dict()
    raw["stages"] = raw["stages"][:3]  # train, prune, distill: quantization is not compared here
    recipe = parse_recipe(raw, base_dir=REPO / "recipes")
    uniform = run_recipe(recipe)
    samples = 64 if mode == "smoke" else 500
    path, analysis = analyze_recipe(recipe, runtime=args.runtime, batch_size=args.batch, samples=samples,
                                    rounds=1 if mode == "smoke" else 5,
                                    int8=mode != "smoke",
                                    command="benchmarks/allocation.py (analyze_recipe)", log=print)
    second = sensitivity_recipe(recipe, uniform, mode)
    (second.run_dir / "analysis").mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, second.run_dir / "analysis" / path.name)  # same weights and settings: the stage reuses it
    sensitive = run_recipe(second)
    data = build_data(recipe.data, recipe.seed)
    example = data.example_input(1)
    rows = [_row("uniform", uniform, "prune", "distill"), _row("sensitivity", sensitive, "prune", "distill")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = [("baseline", uniform.model("train")), ("uniform", uniform.model("distill")),
                  ("sensitivity", sensitive.model("distill"))]
        timed = []
        for name, model in models:
            export_onnx(model, tmp / f"{name}.onnx", example)
            timed.append(model_row(name, tmp / f"{name}.onnx", data, recipe.measure, 0, 0))
        add_latencies(timed, data, recipe.measure, rounds=1 if mode == "smoke" else 3)
    base = timed[0]
    for row, lat in zip(rows, timed[1:]):
        for short in RUNTIMES:
            for bs in recipe.measure.batch_sizes:
                row[f"{short}_b{bs}_ms"] = lat[f"{short}_b{bs}_p50"]
                row[f"{short}_b{bs}_speedup"] = round(base[f"{short}_b{bs}_p50"] / lat[f"{short}_b{bs}_p50"], 3)
    gap = (rows[1]["top1_after_recovery"] - rows[0]["top1_after_recovery"]) * 100
    short_of = {name: short for short, name in RUNTIMES.items()}
    target_key = f"{short_of[args.runtime]}_b{args.batch}" if args.runtime in short_of else None
    alloc = sensitive.metrics["prune"]["extra"]["steps"][0]["allocation"]
    load_after = os.getloadavg()
    goal = (f"{args.macs}x fewer MACs" if args.macs else
            f"a measured {args.target}x on {args.runtime} batch {args.batch}")
    notes = [f"Mode {mode}: ResNet-20, {data.describe()['train_samples']} train / {data.describe()['val_samples']} "
             f"test images; baseline top-1 {base['top1'] * 100:.2f}%; target: {goal}; recovery: distill from the "
             f"baseline, "
             f"{recipe.stages[2].epochs} epoch(s) each.",
             f"Sensitivity minus uniform after recovery: {gap:+.2f} top-1 points ("
             f"{verdict(gap, rows, timed[1:], None if args.macs else target_key)}).",
             f"Analysis wall time (compress analyze, pruning{' + INT8' if 'int8' in analysis else ''}, {samples} "
             f"images, {analysis['runtime']['rounds']} timing rounds): "
             f"{analysis['seconds']['total']} s (pruning {analysis['seconds']['pruning']} s, INT8 "
             f"{analysis['seconds'].get('int8')} s); reused by the sensitivity prune stage: "
             f"{alloc['analysis']['reused']}.",
             f"Sensitivity allocation on {args.runtime} b{args.batch}: predicted {alloc['predicted_latency_ms']} ms, "
             f"achieved {alloc['achieved_latency_ms']} ms (unpruned {alloc['unpruned_latency_ms']} ms at the "
             f"check, {alloc['base_latency_ms']} ms in the analysis); ratios "
             f"{alloc['ratios']}.",
             f"Load average (1, 5, 15 min) {tuple(round(v, 2) for v in load_before)} at the start, "
             f"{tuple(round(v, 2) for v in load_after)} at the end, on {os.cpu_count()} CPUs: the machine was "
             f"shared, so latencies are noisy and wall times inflated.",
             f"Whole benchmark {time.perf_counter() - started:.0f} s."]
    name = "allocation" + ("" if mode == "full" else f"_{mode}") + (f"_macs{args.macs:g}" if args.macs else "")
    columns = ["allocation", "top1_before_recovery", "top1_after_recovery", "macs_speedup", "search_speedup",
               "target_met", "groups_pruned"] + [f"{s}_b{bs}_{k}" for s in RUNTIMES for bs in recipe.measure.batch_sizes
                                                 for k in ("ms", "speedup")]
    write_results(name, f"Pruning allocation: uniform vs sensitivity at {goal} (ResNet-20, CIFAR-10, {mode})", rows,
                  columns,
                  notes, args.out, extra={"analysis": {k: analysis[k] for k in ("seconds", "runtime", "data",
                                                                              "load_average")},
                                          "allocation": alloc, "baseline": base})
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
