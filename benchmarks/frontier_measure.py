"""Measuring the frontier's contenders with one harness, and reading the frontier off the results."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.peers import nncf_ptq, ort_ptq_defaults, torch_pruning_finetune, uniform_pruned
from toolkit.artifacts import ModelArtifact
from toolkit.measure.accuracy import evaluate
from toolkit.measure.latency import time_samples
from toolkit.measure.rounds import wall_sampler
from toolkit.measure.profile import count_macs_params
from toolkit.convert.onnx import export_onnx
from toolkit.runtimes import get_runtime

RUNTIMES = {"ort": "onnxruntime-cpu", "ov": "openvino-cpu"}
# Uniformly pruned copies of the baseline (no training: latency does not depend on the weights' values), timed
# with the contenders to fit latency = fixed + per-MAC cost on each runtime and batch size.
PROBE_RATIOS = (0.25, 0.5, 0.75)


def _row(name: str, path: Path, data, timing, params: int, macs: int) -> dict[str, Any]:
    """Accuracy, size and cost of one contender; latency is filled in later, interleaved with the others."""
    fmt = "onnx-int8" if any(k in path.name for k in ("int8", "ptq")) else "onnx"
    artifact = ModelArtifact(fmt, path)
    ort = get_runtime("onnxruntime-cpu").load(artifact)
    return {"contender": name, "top1": evaluate(ort.predict, data.val_batches(), data.num_classes)["top1"],
            "params": params, "macs": macs, "size_kb": round(path.stat().st_size / 1024, 1), "_artifact": artifact}


def add_latencies(rows: list[dict[str, Any]], data, timing, rounds: int = 3) -> None:
    """Time every contender on every runtime and batch size in interleaved rounds; keep each median.

    Sub-millisecond latencies on a shared 2-core machine drift over minutes; timing the contenders one
    after another would turn that drift into differences between them, so each round visits all of them.
    """
    samples: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for row in rows:
            if "_artifact" not in row:
                continue
            for short, runtime in RUNTIMES.items():
                session = get_runtime(runtime).load(row["_artifact"])
                for bs in timing.batch_sizes:
                    images = data.example_input(bs).numpy()
                    rec = time_samples(wall_sampler(session, images), timing)
                    samples.setdefault((row["contender"], short, bs), []).append((rec["p50_ms"], rec["p90_ms"]))
    for row in rows:
        if row.pop("_artifact", None) is None:
            continue
        for short in RUNTIMES:
            for bs in timing.batch_sizes:
                got = samples[(row["contender"], short, bs)]
                row[f"{short}_b{bs}_p50"] = round(float(np.median([g[0] for g in got])), 4)
                row[f"{short}_b{bs}_p90"] = round(float(np.median([g[1] for g in got])), 4)
                row[f"{short}_b{bs}_p50_range"] = [round(min(g[0] for g in got), 4), round(max(g[0] for g in got), 4)]
        for bs in timing.batch_sizes:
            best = min(RUNTIMES, key=lambda s: row[f"{s}_b{bs}_p50"])
            row[f"best_b{bs}_runtime"], row[f"best_b{bs}_ms"] = RUNTIMES[best], row[f"{best}_b{bs}_p50"]


def measure(run, data, recipe, timing, tmp: Path, peer_epochs: int, peer_lr: float, ptq=None,
            with_probes: bool = True, baseline_stage: str = "train", peer_bf16: bool = False
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every contender's accuracy, size and latency, measured the same way in this process, and the probes.

    `baseline_stage`: the run's step whose model every contender starts from ('train', or 'input' for a recipe
    that starts from a committed checkpoint); `peer_bf16`: the Torch-Pruning peer fine-tunes under bf16 autocast
    (set it as the toolkit's recovery stage sets amp_cpu)."""
    example = data.example_input(1)
    baseline = run.model(baseline_stage)
    base_macs, base_params = count_macs_params(baseline, example)
    export_onnx(baseline, tmp / "baseline.onnx", example)
    calibration = [b.numpy() for b in data.calibration_batches(512, 32, recipe.seed)]
    rows = [_row("baseline fp32", tmp / "baseline.onnx", data, timing, base_params, base_macs)]
    toolkit_macs = run.metrics["prune"]["extra"]["macs_speedup"]
    peer = torch_pruning_finetune(copy.deepcopy(baseline), example, toolkit_macs,
                                  lambda epoch: data.train_batches(epoch, recipe.seed), peer_epochs, peer_lr,
                                  data.num_classes, bf16=peer_bf16)
    macs, params = count_macs_params(peer, example)
    export_onnx(peer, tmp / "tp_finetune.onnx", example)
    rows.append(_row(f"Torch-Pruning + fine-tune ({peer_epochs} ep)", tmp / "tp_finetune.onnx", data, timing,
                     params, macs))
    ort_ptq_defaults(tmp / "baseline.onnx", tmp / "ort_ptq.onnx", calibration)
    rows.append(_row("ONNX Runtime PTQ, defaults", tmp / "ort_ptq.onnx", data, timing, base_params, base_macs))
    try:
        nncf_ptq(tmp / "baseline.onnx", tmp / "nncf_ptq.onnx", calibration)
        rows.append(_row("NNCF PTQ", tmp / "nncf_ptq.onnx", data, timing, base_params, base_macs))
        # the peer's pruned model as it would ship on a CPU: quantized by the same NNCF call
        nncf_ptq(tmp / "tp_finetune.onnx", tmp / "tp_finetune_nncf.onnx", calibration)
        rows.append(_row(f"Torch-Pruning + fine-tune ({peer_epochs} ep) + NNCF PTQ", tmp / "tp_finetune_nncf.onnx",
                         data, timing, params, macs))
    except ImportError:
        rows.append({"contender": "NNCF PTQ", "top1": None, "note": "nncf is not installed (pip install nncf)"})
    for stage in ("prune", "distill", "quantize"):
        outcome = next(s for s in run.stages if s.name == stage)
        model = run.model(stage)
        path = outcome.directory / ("model.int8.onnx" if stage == "quantize" else "model.onnx")
        if stage != "quantize":
            path = tmp / f"toolkit_{stage}.onnx"
            export_onnx(model, path, example)
        info = outcome.metrics["model"]
        rows.append(_row(f"toolkit: {outcome.directory.name}", path, data, timing, info["params"], info["macs"]))
    if ptq is not None:
        outcome = next(s for s in ptq.stages if s.name == "quantize")
        rows.append(_row("toolkit: PTQ only (quantize the baseline)", outcome.directory / "model.int8.onnx", data,
                         timing, base_params, base_macs))
    probes = _probes(baseline, example, tmp, data.num_classes) if with_probes else []
    add_latencies(rows + probes, data, timing, rounds=1 if timing.min_iters < 10 else 3)
    add_speedups(rows + probes, rows[0], timing.batch_sizes)
    return rows, probes


def _probes(baseline, example, tmp: Path, num_classes: int) -> list[dict[str, Any]]:
    """The baseline pruned uniformly at PROBE_RATIOS, for the fixed-cost fit (latency only, no accuracy)."""
    out = []
    for ratio in PROBE_RATIOS:
        # round_to None: with multiples of 8 the MACs of 16-channel layers jump (ratios 0.5 and 0.75 can keep the
        # same 8 channels), and the fit needs MACs spread between the baseline's and a quarter of them.
        model = uniform_pruned(baseline, example, ratio, num_classes, round_to=None)
        macs, params = count_macs_params(model, example)
        path = tmp / f"probe_{ratio}.onnx"
        export_onnx(model, path, example)
        out.append({"contender": f"probe: uniform L2 ratio {ratio}", "params": params, "macs": macs,
                    "_artifact": ModelArtifact("onnx", path)})
    return out


def add_speedups(rows: list[dict[str, Any]], base: dict[str, Any], batch_sizes) -> None:
    """Speedups against the baseline measured in the same run: per runtime and on each one's best runtime."""
    for row in rows:
        for bs in batch_sizes:
            if row.get(f"best_b{bs}_ms"):
                row[f"speedup_b{bs}"] = round(base[f"best_b{bs}_ms"] / row[f"best_b{bs}_ms"], 3)
            for short in RUNTIMES:
                if row.get(f"{short}_b{bs}_p50"):
                    row[f"{short}_b{bs}_speedup"] = round(base[f"{short}_b{bs}_p50"] / row[f"{short}_b{bs}_p50"], 3)
