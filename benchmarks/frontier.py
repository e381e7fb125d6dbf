"""The accuracy-latency frontier on CIFAR-10 photographs: the toolkit's recipe against its peers.

    python -m benchmarks.frontier [--quick | --smoke] [--model resnet20|resnet56|mobilenet_v2] [--out DIR]

Every contender starts from one baseline: the committed checkpoint the recipe names (ResNet-20:
benchmarks/baselines) or, for a recipe with a train stage, that stage's model (trained once, cached in
benchmarks/work). Contenders: baseline fp32; Torch-Pruning + fine-tune (as its README shows, same MACs as the
toolkit reached, same epochs as the toolkit's recovery), and that model quantized by NNCF PTQ; ONNX Runtime PTQ with
defaults; NNCF PTQ; the toolkit's PTQ alone; and the toolkit's recipe (recipes/frontier_<model>.yaml: prune to a
measured latency target -> distill -> INT8). All are measured in this process, interleaved, on openvino-cpu and
onnxruntime-cpu at batch 1 and 32, with uniformly pruned copies of the baseline timed alongside to fit each
runtime's fixed per-call cost.
Results: results/frontier[_mode][_model].{md,json,svg} (resnet20 keeps the unsuffixed name).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cifar import cifar10_root
from benchmarks.common import RESULTS, write_results
from benchmarks.frontier_measure import RUNTIMES, measure
from benchmarks.frontier_scenarios import SCENARIOS, budgets
from benchmarks.frontier_verdicts import (cost_fits, dominance, dominance_notes, fit_notes, frontier_plot,
                                          report_with_peers, target_notes)
from toolkit.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "work"
INT8_ISA = ("avx512_vnni", "avx_vnni", "amx_int8")


def stage_of(recipe, stage_type: str):
    """The recipe's first stage of a type (train, prune, distill, quantize), or None."""
    return next((s for s in recipe.stages if s.stage_type == stage_type), None)


def verified_baseline(checkpoint: Path) -> str:
    """'baseline benchmarks/baselines/FILE (SHA-256 checked)' for a committed baseline; raises ValueError when the
    file differs from its record. Another checkpoint is named as it is."""
    from benchmarks.baseline import HERE, committed_record

    if checkpoint.resolve().parent != HERE.resolve() or committed_record(checkpoint) is None:
        return str(checkpoint)
    return f"baseline benchmarks/baselines/{checkpoint.name} (SHA-256 checked)"


def recipe_summary(recipe) -> str:
    """'prune to a measured 1.5x in int8 on openvino-cpu b1 (round_to auto) -> distill -> int8 (cpu)'."""
    prune, t = stage_of(recipe, "prune"), stage_of(recipe, "prune").target
    timed_in = f" in {t.precision}" if t.precision else " in the precision it ships"
    goal = f"a measured {t.latency_speedup}x{timed_in} on {t.runtime} b{t.batch_size}" if t.latency_speedup else \
        f"{t.macs_speedup}x MACs" if t.macs_speedup else f"ratio {t.ratio}"
    start = "the committed baseline" if stage_of(recipe, "train") is None else "a trained baseline"
    rounding = f" (round_to {prune.round_to})" if prune.round_to else ""
    return f"{start} -> prune to {goal}{rounding} -> distill -> int8 ({stage_of(recipe, 'quantize').scheme})"


def ptq_only(recipe, run):
    """The toolkit's post-training quantization alone, on the same baseline (the train stage's weights file, or
    the recipe's own checkpoint when it starts from a committed baseline)."""
    from toolkit.recipe import parse_recipe

    raw = recipe.to_dict()
    raw["name"] = recipe.name + "-ptq"
    if stage_of(recipe, "train") is not None:
        raw["model"]["checkpoint"] = str(run.stages[0].directory / "model.safetensors")
    raw["stages"] = [{"quantize": stage_of(recipe, "quantize").model_dump(mode="json")}]
    return parse_recipe(raw, base_dir=REPO / "recipes")


def isa_line() -> str:
    """Whether this CPU has the INT8 dot-product instructions (VNNI, AMX) that INT8 speedups depend on."""
    from toolkit.measure.device import describe_device

    isa = describe_device()["isa"]
    found = [name for name in INT8_ISA if name in isa]
    return (f"INT8 instructions: VNNI {'yes' if any('vnni' in f for f in found) else 'NO'}"
            f"{' (' + ', '.join(found) + ')' if found else ''}; AMX-INT8 {'yes' if 'amx_int8' in isa else 'no'}.")


def load_line(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    """The load average at the start and the end: the machine may be shared, so latencies may be noisy."""
    fmt = lambda v: ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    return (f"Load average (1, 5, 15 min): {fmt(before)} at the start, {fmt(after)} at the end, on {os.cpu_count()} "
            f"CPUs{'; the machine was shared, so latencies are noisy' if max(before[0], after[0]) > 0.5 else ''}.")


def result_name(mode: str, model: str) -> str:
    """frontier[_mode][_model]: resnet20 keeps the name of its earlier results."""
    return "frontier" + ("" if mode == "full" else f"_{mode}") + ("" if model == "resnet20" else f"_{model}")


def _report_notes(run, rows, sizes) -> list[str]:
    """The run report's recommendations with the peers added; a failure there must not lose the measurements."""
    try:
        return report_with_peers(run, rows, sizes, RUNTIMES)
    except Exception as exc:  # noqa: BLE001  (reported in the results instead)
        return [f"The run's report with peers could not be built: {type(exc).__name__}: {exc}"]


def main(argv: list[str] | None = None) -> int:
    """Run the toolkit recipe and the peers, measure everything, write the results (md, json, svg)."""
    from toolkit.data import build_data
    from toolkit.run.pipeline import run_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset and short budgets (< 60 min cold on 2 cores)")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, for tests")
    parser.add_argument("--model", default="resnet20", choices=sorted(SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=WORK, help="where the run folders go (cached)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a further recipe override after the mode's budget (repeatable), "
                             "e.g. data.limit_train=2500")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    if mode != "smoke" and cifar10_root() is None:
        print("skipped: the CIFAR-10 archive ../shared/data/cifar10-jpeg.tar.gz is absent (see its README)")
        return 0
    started, load_before = time.perf_counter(), os.getloadavg()
    scenario = SCENARIOS[args.model]
    recipe = load_recipe(scenario.path, budgets(mode, args.model, args.work) + args.sets)
    train = stage_of(recipe, "train")
    trained = f"{train.epochs} epochs" if train else f"the committed {verified_baseline(recipe.model.checkpoint)}"
    run = run_recipe(recipe)
    ptq = run_recipe(ptq_only(recipe, run))
    data = build_data(recipe.data, recipe.seed)
    timing, sizes = recipe.measure, recipe.measure.batch_sizes
    recovery = stage_of(recipe, "distill")
    with tempfile.TemporaryDirectory() as tmp:
        rows, probes = measure(run, data, recipe, timing, Path(tmp), peer_epochs=recovery.epochs,
                               peer_lr=recovery.lr, ptq=ptq, baseline_stage="train" if train else "input",
                               peer_bf16=recovery.amp_cpu)
    base = rows[0]
    fits = cost_fits(rows, probes, RUNTIMES, sizes)
    verdicts = dominance(rows, sizes)
    described = data.describe()
    targets, target_record = target_notes(rows, {"train": f"{train.epochs} training epochs" if train else
                                                  "the committed baseline", "distill": recovery.epochs},
                                          described["train_samples"], fits, sizes)
    seconds = time.perf_counter() - started
    notes = [f"Mode {mode}, {args.model} ({base['params'] / 1e6:.2f} M params, {base['macs'] / 1e6:.1f} M MACs at "
             f"{recipe.data.input_shape.text}); baseline {base['top1'] * 100:.2f}% top-1 on "
             f"{described['val_samples']} test images after {trained}; {described['train_samples']} train "
             f"images for training and recovery; every contender starts from it and pruned ones get "
             f"{recovery.epochs} recovery epoch(s); whole benchmark {seconds:.0f} s wall.",
             f"Toolkit recipe ({recipe_summary(recipe)}), {scenario.path.name}"
             + (f", with --set {' '.join(args.sets)}." if args.sets else "."),
             "Latency: p50/p90 in ms, median of interleaved rounds; speedup_bN: baseline p50 / contender p50, each on "
             "its best CPU runtime at batch N (per-runtime speedups in the JSON).",
             *targets, *dominance_notes(verdicts), *fit_notes(fits),
             *_report_notes(run, rows, sizes)]
    header = [isa_line(), load_line(load_before, os.getloadavg())]
    name = result_name(mode, args.model)
    columns = ["contender", "top1", "params", "macs", "size_kb"]
    columns += [f"{s}_b{bs}_{q}" for s in RUNTIMES for bs in sizes for q in ("p50", "p90")]
    columns += [f"{k}_b{bs}" for bs in sizes for k in ("best", "speedup")]
    for row in rows:
        for bs in sizes:
            if row.get(f"best_b{bs}_runtime"):
                row[f"best_b{bs}"] = row[f"best_b{bs}_runtime"].split("-")[0]
    on = "synthetic images (a smoke run of the pipeline, not a result)" if mode == "smoke" else "CIFAR-10"
    write_results(name, f"Accuracy-latency frontier: {args.model} on {on} ({mode})", rows, columns, notes,
                  args.out, extra={"probes": probes, "cost_fits": fits, "dominance": verdicts,
                                   "targets": target_record, "wall_s": round(seconds, 1), "mode": mode,
                                   "model": args.model, "recipe": scenario.path.name, "sets": args.sets,
                                   "load_average": {"start": load_before, "end": os.getloadavg()}},
                  header=header)
    frontier_plot(rows, args.out / f"{name}.svg", args.model, sizes)
    print("\n".join(header + notes))
    print(f"wrote {args.out / name}.md, .json and .svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
