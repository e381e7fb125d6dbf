"""`compress sweep` on the ResNet-20 frontier scenario, against NNCF PTQ of the same baseline.

    python -m benchmarks.sweep [--quick | --smoke] [--out DIR] [--work DIR]

Starts from the committed baseline (benchmarks/baselines, BENCHMARK_BASELINE): every trial prunes it to a measured
latency target on OpenVINO at batch 32, recovers by distillation from it, and quantizes to INT8 with one of the
CPU schemes (dimensions below; the full mode also sweeps the allocation, uniform or sensitivity-guided). The sweep
runs twice, in fresh folders, with 1 and with 2 worker processes (`compress sweep --workers N`, as a user runs
it), so the wall times compare. Then the baseline, NNCF PTQ of it (`nncf.quantize` defaults, OpenVINO's tool, as
in benchmarks/frontier.py) and every complete trial of the 2-worker sweep are measured together, interleaved, on
OpenVINO and ONNX Runtime at batch 1 and 32, on the same test images: does a trial dominate NNCF PTQ (at least
as accurate and faster beyond both 95% intervals)? The sweep's own overhead per trial (wall time beyond the run)
comes from the study. Results: results/sweep_<mode>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.baseline import baseline_checkpoint
from benchmarks.cifar import cifar10_root
from benchmarks.common import RESULTS, write_results

WORK = Path(__file__).parent / "work" / "sweep"
RUNTIMES = ["openvino-cpu", "onnxruntime-cpu"]
MODES = {  # data subset, recovery epochs, dimensions, timing
    "smoke": {"data": {"dataset": "synthetic", "num_classes": 10, "num_samples": 128, "image_size": 32},
              "epochs": 1, "targets": [1.1], "schemes": ["cpu", "openvino"], "allocations": ["uniform"],
              "timing": {"min_iters": 3, "warmup_s": 0.0, "min_time_s": 0.0}, "batch_sizes": [1]},
    "quick": {"data": {"limit_train": 5000, "limit_val": 2000}, "epochs": 1, "targets": [1.3, 1.6, 2.0],
              "schemes": ["cpu", "openvino"], "allocations": ["uniform"],
              "timing": {"min_iters": 20, "warmup_s": 0.2, "min_time_s": 0.5}, "batch_sizes": [1, 32]},
    "full": {"data": {}, "epochs": 5, "targets": [1.3, 1.6, 2.0], "schemes": ["cpu", "openvino"],
             "allocations": ["uniform", "sensitivity"], "timing": {}, "batch_sizes": [1, 32]},
}


def sweep_recipe(mode: str, work: Path) -> dict[str, Any]:
    """The sweep recipe of a mode: the committed baseline, prune -> distill -> quantize, and its dimensions."""
    budget = MODES[mode]
    data = {"dataset": "imagefolder", "root": str(cifar10_root()), "image_size": 32, "batch_size": 128,
            **budget["data"]} if mode != "smoke" else {**budget["data"], "batch_size": 32}
    model = {"arch": "resnet20"} if mode == "smoke" else {"arch": "resnet20",
                                                           "checkpoint": str(baseline_checkpoint())}
    dimensions: dict[str, list[Any]] = {"stages.0.prune.target.latency_speedup": budget["targets"],
                                        "stages.2.quantize.scheme": budget["schemes"]}
    if len(budget["allocations"]) > 1:
        dimensions["stages.0.prune.allocation"] = budget["allocations"]
    batch = max(budget["batch_sizes"])
    return {"name": f"sweep-resnet20-{mode}", "seed": 0, "model": model, "data": data, "output": str(work),
            "measure": {"runtimes": RUNTIMES, "batch_sizes": budget["batch_sizes"], **budget["timing"]},
            "report": {"max_accuracy_drop": 1.0},
            "stages": [{"prune": {"method": "l2", "target": {"latency_speedup": 1.3, "runtime": "openvino-cpu",
                                                             "batch_size": batch}, "round_to": 4}},
                       {"distill": {"epochs": budget["epochs"], "lr": 0.01}},
                       {"quantize": {"scheme": "cpu", "calibration": {"samples": 512, "method": "minmax"}}}],
            "sweep": {"dimensions": dimensions,
                      "objectives": {"top1": "max", "p50": {"runtime": "openvino-cpu", "batch_size": batch}}}}


def run_sweep(raw: dict[str, Any], folder: Path, workers: int) -> tuple[float, dict[str, Any]]:
    """`compress sweep RECIPE --workers N` in a fresh folder, as a user runs it; (wall seconds, summary.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe = folder / "sweep.yaml"
    recipe.write_text(yaml.safe_dump({**raw, "output": str(folder / "runs")}, sort_keys=False))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "toolkit", "sweep", str(recipe), "--workers", str(workers)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"compress sweep --workers {workers} failed ({done.returncode}):\n"
                         f"{done.stdout}\n{done.stderr}")
    summary = json.loads((folder / "runs" / f"{raw['name']}-sweep" / "summary.json").read_text())
    return wall, summary


def final_onnx(trial: dict[str, Any]) -> Path:
    """The INT8 ONNX file the trial's final stage wrote."""
    stage = Path(trial["run_dir"]) / trial["final_stage"]
    found = sorted(stage.glob("*.int8.onnx")) or sorted(stage.glob("*.onnx"))
    if not found:
        raise SystemExit(f"trial {trial['number']}: no ONNX file in {stage}")
    return found[0]


def measure_together(raw: dict[str, Any], trials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Baseline, NNCF PTQ of it and every trial's INT8 file: top-1 on the same test images and latency in
    interleaved rounds, on every runtime and batch size of the recipe."""
    from benchmarks.peers import nncf_ptq
    from toolkit.artifacts import ONNX_INT8, ModelArtifact
    from toolkit.config import DataSpec, MeasureSpec, ModelSpec
    from toolkit.convert.checked import ensure_onnx
    from toolkit.data import build_data
    from toolkit.measure.together import measure_interleaved
    from toolkit.models.checkpoint import load_checkpoint
    from toolkit.models.factory import build_model

    data = build_data(DataSpec.model_validate(raw["data"]), raw["seed"])
    spec = MeasureSpec.model_validate(raw["measure"])
    baseline = build_model(ModelSpec.model_validate({"arch": "resnet20"}), data.num_classes)
    if raw["model"].get("checkpoint"):
        load_checkpoint(baseline, Path(raw["model"]["checkpoint"]))
    baseline.eval()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "baseline").mkdir()
        fp32, _ = ensure_onnx(baseline, scratch / "baseline", data)
        calibration = [x.numpy() for x in data.calibration_batches(300, batch_size=1, seed=raw["seed"])]
        nncf = scratch / "nncf" / "model.int8.onnx"
        nncf.parent.mkdir()
        nncf_ptq(fp32.path, nncf, calibration)
        models = [("baseline fp32", baseline, scratch / "baseline"),
                  ("NNCF PTQ", ModelArtifact(ONNX_INT8, nncf), nncf.parent)]
        models += [(f"trial {t['number']}", ModelArtifact(ONNX_INT8, final_onnx(t)), final_onnx(t).parent)
                   for t in trials]
        return measure_interleaved(models, data, spec, accuracy=True, scratch=scratch / "export")


def _dominates(a: dict[str, Any], b: dict[str, Any], runtime: str, batch: int) -> bool:
    """a at least as accurate as b and faster beyond both 95% intervals on (runtime, batch)."""
    ra, rb = a.get(f"{runtime}_b{batch}"), b.get(f"{runtime}_b{batch}")
    if not ra or not rb:
        return False
    return a["top1"] >= b["top1"] and (ra.get("ci_high_ms") or ra["p50_ms"]) < (rb.get("ci_low_ms") or rb["p50_ms"])


def rows_from(results: dict[str, dict[str, Any]], trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per contender: top-1, p50 per runtime and batch, its speedup over the baseline and NNCF PTQ."""
    params = {f"trial {t['number']}": t["params"] for t in trials}
    rows = []
    for key, result in results.items():
        row = {"contender": key, "top1": (result.get("accuracy") or {}).get("top1"),
               "params": " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.get(key, {}).items())}
        for rec in result.get("latency") or []:
            if rec.get("status") == "ok":
                row[f"{rec['runtime']}_b{rec['batch_size']}"] = rec
                row[f"{rec['runtime']}_b{rec['batch_size']}_p50"] = round(rec["p50_ms"], 4)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the sweep with 1 and 2 workers, measure the trials with the peers, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 train / 2,000 test images, 1 recovery epoch")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, for tests")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    if mode != "smoke" and cifar10_root() is None:
        print("skipped: the CIFAR-10 archive ../shared/data/cifar10-jpeg.tar.gz is absent")
        return 0
    load_before = os.getloadavg()
    raw = sweep_recipe(mode, args.work)
    walls, summaries = {}, {}
    for workers in (2, 1):
        walls[workers], summaries[workers] = run_sweep(raw, args.work / f"{mode}-w{workers}", workers)
    trials = [t for t in summaries[2]["trials"] if t["state"] == "COMPLETE"]
    results = measure_together(raw, trials)
    rows = rows_from(results, trials)
    nncf = next(r for r in rows if r["contender"] == "NNCF PTQ")
    verdicts = {f"{rt}_b{bs}": [r["contender"] for r in rows if r["contender"].startswith("trial")
                                and _dominates(r, nncf, rt, bs)]
                for rt in RUNTIMES for bs in raw["measure"]["batch_sizes"]}
    overheads = sorted(t["overhead_s"] for t in summaries[2]["trials"] + summaries[1]["trials"]
                       if t.get("overhead_s") is not None)
    notes = [f"Mode {mode}: {len(summaries[2]['trials'])} trial(s) over {', '.join(raw['sweep']['dimensions'])}; "
             f"recovery {MODES[mode]['epochs']} distillation epoch(s); "
             f"data {MODES[mode]['data'] or 'all of CIFAR-10'}.",
             f"Wall time of `compress sweep`: {walls[1]:.0f} s with 1 worker, {walls[2]:.0f} s with 2 workers "
             f"({walls[1] / walls[2]:.2f}x) on {os.cpu_count()} CPUs.",
             f"The sweep's own overhead per trial (wall time beyond the run, from the study): median "
             f"{overheads[len(overheads) // 2]:.3f} s, max {overheads[-1]:.3f} s (target: under 1 s)."
             if overheads else "No overhead recorded.",
             *[f"{w}-worker sweep, trial {t['number']} ({t['params']}) {t['state'].lower()}: {t['reason']}"
               for w in (2, 1) for t in summaries[w]["trials"] if t["state"] != "COMPLETE"],
             f"Pareto set of the 2-worker sweep (top-1 vs OpenVINO p50 at its batch): {summaries[2]['pareto']}; "
             f"recommended: trial {summaries[2]['recommended']}.",
             *[f"Trials dominating NNCF PTQ on {k} (as accurate, faster beyond both 95% intervals): "
               f"{', '.join(v) if v else 'none'}." for k, v in verdicts.items()]]
    columns = ["contender", "top1", "params"] + [f"{rt}_b{bs}_p50" for rt in RUNTIMES
                                                 for bs in raw["measure"]["batch_sizes"]]
    table = [{k: v for k, v in r.items() if not isinstance(v, dict)} for r in rows]
    load = lambda v: ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    header = [f"Load average (1, 5, 15 min): {load(load_before)} at the start, {load(os.getloadavg())} at the end, "
              f"on {os.cpu_count()} CPUs (above 0.5: the machine was shared and latencies are noisy)."]
    write_results(f"sweep_{mode}", f"compress sweep: ResNet-20 on CIFAR-10 against NNCF PTQ ({mode})", table,
                  columns, notes, args.out, header=header,
                  extra={"walls_s": walls, "overhead_s": overheads, "dominating_nncf": verdicts,
                         "summary_2_workers": summaries[2], "recipe": raw})
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
