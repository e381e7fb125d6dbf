"""Can latency be trusted? Identical models measured again and again, on a quiet and on a loaded machine.

    python -m benchmarks.repeatability [--quick] [--smoke] [--out DIR]

Three "stages" of a run: a ResNet-20 baseline (width 16) and two width-8 ResNet-20s with different weights
but the same graph (a pruned model and its distilled copy), given the same top-1. Each trial measures
them as the product does and asks the report's recommendation to choose. Compared per condition:
- `old`: each model timed on its own, one after another, and the lowest p50 wins (the former rule);
- `intervals`: interleaved rounds with 95% intervals, identical graphs timed separately (dedupe off), ties
  going to the earlier stage;
- `product`: as `intervals`, plus identical graphs measured once (what `compress run` and `bench` do).
The loaded condition starts one busy-looping process per logical CPU and stops them afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import RESULTS, write_results
from toolkit.artifacts import ModelArtifact
from toolkit.measure.interleave import Candidate, latency_records
from toolkit.measure.latency import time_samples
from toolkit.measure.rounds import wall_sampler
from toolkit.measure.system import noise_warning, system_notes
from toolkit.models import build_model
from toolkit.convert.onnx import export_onnx
from toolkit.report.analysis import recommend
from toolkit.report.collect import RunView, StageView
from toolkit.runtimes import get_runtime
from toolkit.config import MeasureSpec, ModelSpec

STAGES = (("01-train", 16, 0), ("02-prune", 8, 1), ("03-distill", 8, 2))  # label, width, weight seed
TOP1 = {"01-train": 0.92, "02-prune": 0.915, "03-distill": 0.915}
IDENTICAL = {"02-prune", "03-distill"}


def _models(tmp: Path, size: int) -> dict[str, ModelArtifact]:
    out = {}
    for label, width, seed in STAGES:
        torch.manual_seed(seed)
        model = build_model(ModelSpec(arch="resnet20", kwargs={"width": width}), 10, size).eval()
        path = tmp / f"{label}.onnx"
        export_onnx(model, path, torch.randn(1, 3, size, size))
        out[label] = ModelArtifact("onnx", path)
    return out


class Images:
    """Random inputs of one shape (latency does not depend on the pixels)."""

    def __init__(self, size: int):
        self.size = size

    def example_input(self, batch: int) -> torch.Tensor:
        return torch.randn(batch, 3, self.size, self.size)


def _old_records(models, spec: MeasureSpec, data) -> dict[str, list[dict]]:
    """The former measurement: each model on its own, in turn, p50 only."""
    out: dict[str, list[dict]] = {}
    for label, artifact in models.items():
        for runtime in spec.runtimes:
            session = get_runtime(runtime).load(artifact)
            for bs in spec.batch_sizes:
                images = data.example_input(bs).numpy()
                rec = time_samples(wall_sampler(session, images), spec)
                out.setdefault(label, []).append({"runtime": runtime, "batch_size": bs, "status": "ok", **rec})
    return out


def _recommend(records: dict[str, list[dict]]) -> list[dict]:
    """The report's recommendation, asked separately for each runtime (one per runtime and batch size)."""
    out = []
    for runtime in dict.fromkeys(r["runtime"] for recs in records.values() for r in recs):
        stages = [StageView(int(label[:2]), label[3:], label[3:], "ok", None,
                            {"accuracy": {"top1": TOP1[label]}, "device": {"cpu": "this machine"},
                             "latency": [r for r in recs if r["runtime"] == runtime], "model": {}})
                  for label, recs in records.items()]
        out += recommend(RunView(Path("."), {}, "", stages), max_drop_points=1.0)
    return out


def _trial(condition: str, trial: int, variant: str, models, spec: MeasureSpec, data) -> list[dict]:
    load = system_notes()["load_avg"]
    if variant == "old":
        records = _old_records(models, spec, data)
    else:
        records = latency_records([Candidate(k, v) for k, v in models.items()], data, spec,
                                  dedupe=variant == "product")
    warning = noise_warning([r for recs in records.values() for r in recs])
    rows = []
    for rec in _recommend(records):
        where = (rec["runtime"], rec["batch_size"])
        a, b = (next(r for r in records[label] if (r["runtime"], r["batch_size"]) == where)
                for label in ("02-prune", "03-distill"))
        if variant == "old":  # the former rule: the lowest p50 wins, whatever the noise
            pick = min(("02-prune", a), ("03-distill", b), key=lambda x: x[1]["p50_ms"])[0]
        else:
            pick = rec["stage"]
        rows.append({"condition": condition, "trial": trial, "variant": variant, "runtime": rec["runtime"],
                     "batch": rec["batch_size"], "load_avg_1m": load[0] if load else None,
                     "prune_p50_ms": a["p50_ms"], "distill_p50_ms": b["p50_ms"],
                     "prune_ci": _ci(a), "distill_ci": _ci(b),
                     "distill_over_prune": round(b["p50_ms"] / a["p50_ms"], 4),
                     "unstable": sum(bool(r.get("unstable")) for recs in records.values() for r in recs
                                     if r["runtime"] == rec["runtime"] and r["batch_size"] == rec["batch_size"]),
                     "records": len(records), "recommended": pick,
                     "warning": bool(warning)})
        print(rows[-1], flush=True)
    return rows


def _ci(rec: dict) -> str:
    return f"{rec['ci_low_ms']:.4g}-{rec['ci_high_ms']:.4g}" if rec.get("ci_low_ms") is not None else "-"


def _burners(count: int) -> list[subprocess.Popen]:
    """Busy-looping processes, one per CPU: a deliberately loaded machine."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


def _summary(rows: list[dict]) -> list[str]:
    notes = []
    for condition in dict.fromkeys(r["condition"] for r in rows):
        mine = [r for r in rows if r["condition"] == condition]
        loads = [r["load_avg_1m"] for r in mine if r["load_avg_1m"] is not None]
        parts = []
        for variant in dict.fromkeys(r["variant"] for r in mine):
            these = [r for r in mine if r["variant"] == variant]
            picks = {(r["runtime"], r["batch"]): set() for r in these}
            for r in these:
                picks[(r["runtime"], r["batch"])].add(r["recommended"])
            flips = sum(len(p & IDENTICAL) > 1 for p in picks.values())
            ratios = [r["distill_over_prune"] for r in these]
            chosen = sorted({r["recommended"] for r in these})
            parts.append(f"`{variant}`: recommended {', '.join(chosen)}; switched between the identical models in "
                         f"{flips} of {len(picks)} runtimes; identical models measured "
                         f"{min(ratios):.3f}-{max(ratios):.3f}x "
                         f"apart; {sum(r['unstable'] for r in these)} of {sum(r['records'] for r in these)} records "
                         f"unstable; noise warning in {sum(r['warning'] for r in these)} of {len(these)} rows")
        notes.append(f"{condition} (1-min load average seen {min(loads):.2f}-{max(loads):.2f} on "
                     f"{os.cpu_count()} CPUs): " + "; ".join(parts) + ".")
    return notes


def main(argv: list[str] | None = None) -> int:
    """Measure identical models quiet and loaded; write benchmarks/results/repeatability[_quick|_smoke].{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 trials per condition")
    parser.add_argument("--smoke", action="store_true", help="tiny timing, 1 trial, one runtime, for tests")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    trials = 1 if args.smoke else 3 if args.quick else 5
    spec = MeasureSpec(runtimes=["onnxruntime-cpu"] + ([] if args.smoke else ["openvino-cpu"]), batch_sizes=[1],
                       **({"warmup_s": 0.0, "min_iters": 5, "min_time_s": 0.0} if args.smoke else {}))
    data = Images(32)
    rows: list[dict] = []
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        models = _models(Path(tmp), 32)
        for condition in ("quiet", "loaded"):
            procs = _burners(os.cpu_count() or 1) if condition == "loaded" else []
            try:
                if procs:
                    time.sleep(0.5 if args.smoke else 5)  # let the load average climb
                for trial in range(trials):
                    for variant in ("old", "intervals", "product"):
                        rows += _trial(condition, trial, variant, models, spec, data)
            finally:
                _stop(procs)
    notes = _summary(rows) + [
        "Models: ResNet-20 at 32x32, batch 1; 02-prune and 03-distill are the same graph (width 8) with different "
        "weights and equal top-1, so any latency difference between them is noise and the recommendation "
        "should not move between them. 'quiet' means no burner of our own: other work on the machine still runs.",
        "Timing: the toolkit's default (0.5 s warm-up, >= 50 runs and >= 1 s per model; 5 interleaved rounds "
        "for `intervals` and `product`).", f"Wall time: {time.time() - started:.0f} s."]
    name = "repeatability" + ("_smoke" if args.smoke else "_quick" if args.quick else "")
    write_results(name, "Latency repeatability: identical models, quiet and loaded", rows,
                  ["condition", "trial", "variant", "runtime", "load_avg_1m", "prune_p50_ms", "prune_ci",
                   "distill_p50_ms", "distill_ci", "distill_over_prune", "unstable", "recommended", "warning"],
                  notes, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
