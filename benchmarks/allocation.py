"""Uniform against sensitivity-aware pruning allocation at the same measured latency target.

    python -m benchmarks.allocation [--quick | --smoke] [--model resnet20] [--target 1.5]
                                    [--runtime openvino-cpu] [--batch 1]
    python -m benchmarks.allocation --quick --macs 2.0      # the same comparison at a MACs target
    python -m benchmarks.allocation --quick --batch 32      # where latency is compute, not per-call overhead

One baseline (recipes/frontier_<model>.yaml: ResNet-20 starts from the committed checkpoint in
benchmarks/baselines, ResNet-56 trains its own on CIFAR-10 photographs, cached in benchmarks/work). Run A prunes
it with `allocation: uniform` to the latency target; run B starts from the same weights with `allocation:
sensitivity` at the speedup A achieved (its prune stage runs the sensitivity analysis, the code of `compress
analyze`, and its wall time is recorded); both then recover by distillation from the baseline for the same
epochs. Top-1 before and after recovery and the latency on each CPU runtime (interleaved rounds,
benchmarks.frontier_measure) are written to results/allocation[_mode].{md,json}, with the load average: the
machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from benchmarks.cifar import cifar10_root
from benchmarks.common import RESULTS, write_results
from toolkit.recipe import load_recipe, parse_recipe

if TYPE_CHECKING:
    from toolkit.recipe import Recipe
    from toolkit.run.plan import RunResult

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "work"
MATCHED = 0.10  # two arms are at one latency when their p50 differ by at most this share


def overrides(mode: str, target: float, runtime: str, batch: int, work: Path, macs: float | None = None,
              model: str = "resnet20", prune_at: int = 1) -> list[str]:
    """--set overrides of recipes/frontier_<model>.yaml, whose prune stage is stage `prune_at`."""
    at = f"stages.{prune_at}.prune.target"
    goal = [f"{at}.latency_speedup=null", f"{at}.macs_speedup={macs}"] if macs else [f"{at}.latency_speedup={target}"]
    common = [f"output={work}", f"name=allocation-{model}-{mode}", *goal, f"{at}.runtime={runtime}",
              f"{at}.batch_size={batch}"]
    if mode == "smoke":
        return common + ["data.dataset=synthetic", "data.num_samples=256", "data.num_classes=4", "data.root=null",
                         "data.batch_size=32", f"stages.{prune_at}.prune.round_to=null", "measure.min_iters=3",
                         "measure.warmup_s=0", "measure.min_time_s=0", "measure.batch_sizes=[1]",
                         "data.image_size=16", "model.kwargs={width: 8}", "model.checkpoint=null"]
    if mode == "quick":  # 2,000 test images: one image is 0.05 points, so a 1.5-point gap is 30 images
        return common + ["data.limit_train=10000", "data.limit_val=2000", "measure.min_iters=20",
                         "measure.min_time_s=0.3", "measure.warmup_s=0.1"]
    return common


def compared_stages(raw: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    """The recipe's train (if any), prune and distill stages: quantization is not compared here. A recipe that
    starts from a committed baseline trains nothing; its smoke run, on random data, trains a stand-in first.
    Quick mode shortens training to 6 epochs and recovery to 2; smoke to 2 and 1."""
    kept = [dict(s) for s in raw["stages"] if next(iter(s)) in ("train", "prune", "distill")]
    if mode == "smoke" and "train" not in next(iter(kept), {}):
        kept.insert(0, {"train": {"epochs": 2, "name": "baseline"}})  # the stand-in teaches the distill stage
    epochs = {"smoke": (2, 1), "quick": (6, 2)}.get(mode)
    for stage in kept:
        kind = next(iter(stage))
        if epochs and kind in ("train", "distill"):
            stage[kind] = dict(stage[kind], epochs=epochs[1] if kind == "distill" else epochs[0])
        if kind == "distill" and kept[0].get("train", {}).get("name") == "baseline":
            stage[kind]["teacher"] = "baseline"
    return kept


def sensitivity_recipe(recipe: Recipe, run: RunResult, mode: str, samples: int,
                       speedup: float | None = None) -> Recipe:
    """Run B: the baseline's weights as input, prune with allocation: sensitivity, the same distill.

    `speedup`: B's latency target, set to what the uniform arm achieved so that both arms are at one latency
    (uniform pruning moves in channel-rounding steps and may overshoot the recipe's target)."""
    raw = recipe.to_dict()
    raw["name"] = f"{recipe.name}-sensitivity"
    kinds = [next(iter(s)) for s in raw["stages"]]
    if kinds[0] == "train":  # the uniform run trained the baseline: start from its weights
        trained = next(s for s in run.stages if s.type == "train")
        raw["model"]["checkpoint"] = str(trained.directory / "model.safetensors")
    prune = dict(raw["stages"][kinds.index("prune")]["prune"], allocation="sensitivity")
    if speedup is not None:
        prune["target"] = dict(prune["target"], latency_speedup=speedup)
    prune["sensitivity"] = {"samples": 64, "rounds": 1, "check_rounds": 1} if mode == "smoke" else \
        {"samples": samples}
    distill = dict(raw["stages"][kinds.index("distill")]["distill"], teacher="input")
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


def matched_speedup(uniform_step: dict[str, Any]) -> float | None:
    """The latency speedup the uniform arm's search measured, for the sensitivity arm to match; None when it
    measured none above 1.01 (a busy machine: nothing to match, the recipe's target is used instead)."""
    achieved = uniform_step.get("speedup") or _uniform_speedup(uniform_step)
    return round(achieved, 3) if achieved is not None and achieved > 1.01 else None


def verdict(gap: float, rows: list[dict[str, Any]], timed: list[dict[str, Any]] | None, key: str | None) -> str:
    """The target's verdict: MET / NOT MET only when the two arms are comparable, else NOT COMPARABLE.

    `rows` are the uniform and sensitivity rows (their `target_met`); `timed` the two arms' interleaved
    latencies and `key` the target's `{runtime}_b{batch}` (None for a MACs target). At a latency target the
    arms are comparable when their interleaved p50 differ by at most MATCHED of the faster one (top-1
    compared at one cost, whether or not that cost is the target's); at a MACs target, when both met it.
    """
    if key is not None and timed is not None and all(f"{key}_p50" in t for t in timed):
        (a, b) = (t[f"{key}_p50"] for t in timed)
        reasons = [] if abs(a - b) <= MATCHED * min(a, b) else [
            f"achieved {key} p50 {a} vs {b} ms differ by more than {MATCHED:.0%}"]
    else:
        reasons = [f"{r['allocation']} missed its target" for r in rows if r.get("target_met") is False]
    if reasons:
        return f"target >= +1.5: NOT COMPARABLE ({'; '.join(reasons)})"
    return f"target >= +1.5: {'MET' if gap >= 1.5 else 'NOT MET'}"


def main(argv: list[str] | None = None) -> int:
    """Run both allocations, measure them together, write results/allocation[_mode].{md,json}."""
    from benchmarks.frontier_measure import RUNTIMES, _row as model_row, add_latencies
    from toolkit.data import build_data
    from toolkit.convert.onnx import export_onnx
    from toolkit.run.pipeline import run_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10k train / 2k test images, 2 recovery epochs (6 of training where the recipe trains)")
    parser.add_argument("--model", choices=("resnet20", "resnet56"), default="resnet20")
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
    path = REPO / "recipes" / f"frontier_{args.model}.yaml"
    # From the raw YAML: validating the recipe before the overrides would demand its data.root, absent in smoke mode
    prune_at = [next(iter(s)) for s in yaml.safe_load(path.read_text())["stages"]].index("prune")
    recipe = load_recipe(path, overrides(mode, args.target, args.runtime, args.batch, args.work, args.macs,
                                         args.model, prune_at))
    raw = recipe.to_dict()
    raw["stages"] = compared_stages(raw, mode)
    recipe = parse_recipe(raw, base_dir=REPO / "recipes")
    trains = recipe.stages[0].stage_type == "train"
    uniform = run_recipe(recipe)
    samples = 64 if mode == "smoke" else 1000
    uniform_step = uniform.metrics["prune"]["extra"]["steps"][0]
    matched = None if args.macs else matched_speedup(uniform_step)
    second = sensitivity_recipe(recipe, uniform, mode, samples, matched)
    sensitive = run_recipe(second)
    data = build_data(recipe.data, recipe.seed)
    example = data.example_input(1)
    rows = [_row("uniform", uniform, "prune", "distill"), _row("sensitivity", sensitive, "prune", "distill")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = [("baseline", uniform.model((recipe.stages[0].name or "train") if trains else "input")),
                  ("uniform", uniform.model("distill")),
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
    notes = [f"Mode {mode}: {args.model}, {data.describe()['train_samples']} train / {data.describe()['val_samples']} "
             f"test images; baseline top-1 {base['top1'] * 100:.2f}%; target: {goal}; recovery: distill from the "
             f"baseline, "
             f"{next(s for s in recipe.stages if s.stage_type == 'distill').epochs} epoch(s) each; baseline: "
             f"{'trained by the recipe' if trains else recipe.model.checkpoint}.",
             *([f"Matched latency: the sensitivity arm's target is the uniform arm's achieved {matched}x (its "
                f"search's measurement), not {args.target}x: uniform pruning moves in channel-rounding steps."]
               if matched else []),
             f"Sensitivity minus uniform after recovery: {gap:+.2f} top-1 points ("
             f"{verdict(gap, rows, timed[1:], None if args.macs else target_key)}).",
             f"Analysis wall time (the sensitivity prune stage's pruning analysis, the code `compress analyze` "
             f"runs: {alloc['analysis']['samples']} images, {second.stages[0].sensitivity.rounds} timing rounds at "
             f"b{args.batch}): {alloc['analysis']['seconds']} s.",
             f"Sensitivity allocation on {args.runtime} b{args.batch}: predicted "
             + (f"{alloc['predicted_latency_ms']} ms, " if alloc["predicted_latency_ms"] is not None else
                "none (the groups' savings add up past the unpruned latency), ") +
             f"achieved {alloc['achieved_latency_ms']} ms (unpruned {alloc['unpruned_latency_ms']} ms at the "
             f"check, {alloc['base_latency_ms']} ms in the analysis); ratios "
             f"{alloc['ratios']}.",
             f"Load average (1, 5, 15 min) {tuple(round(v, 2) for v in load_before)} at the start, "
             f"{tuple(round(v, 2) for v in load_after)} at the end, on {os.cpu_count()} CPUs (the benchmark's own "
             f"threads count" + ("; above the CPU count other work shared the machine and latencies are noisy)."
                                 if max(load_before[0], load_after[0]) > (os.cpu_count() or 1) + 0.5 else ")."),
             f"Whole benchmark {time.perf_counter() - started:.0f} s."]
    name = "allocation" + ("" if mode == "full" else f"_{mode}") + (f"_macs{args.macs:g}" if args.macs else "") \
        + ("" if args.model == "resnet20" else f"_{args.model}") + ("" if args.batch == 1 else f"_b{args.batch}")
    columns = ["allocation", "top1_before_recovery", "top1_after_recovery", "macs_speedup", "search_speedup",
               "target_met", "groups_pruned"] + [f"{s}_b{bs}_{k}" for s in RUNTIMES for bs in recipe.measure.batch_sizes
                                                 for k in ("ms", "speedup")]
    data_name = "synthetic data" if mode == "smoke" else "CIFAR-10"
    write_results(name, f"Pruning allocation: uniform vs sensitivity at {goal} ({args.model}, {data_name}, {mode})",
                  rows, columns,
                  notes, args.out, extra={"analysis": {k: alloc["analysis"].get(k) for k in ("seconds", "samples",
                                                                                   "reused", "base_ms")},
                                          "allocation": alloc, "baseline": base})
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
