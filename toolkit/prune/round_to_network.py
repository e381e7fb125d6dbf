"""`round_to: auto`'s second look: the whole network, cut at each finalist multiple, timed in the target precision.

The layer probe (round_to.py) times one convolution alone. Measured on a 2-core Xeon with AMX (2026-12-07),
OpenVINO INT8, batch 32: that probe was flat (every multiple within 3% of any count), yet ResNet-20 cut by a
quarter of its channels ran at 0.72x of the unpruned INT8 network with channel counts at multiples of 1, 0.88x at
multiples of 8 and 1.11x at multiples of 16. What a lone layer does not show is between the layers: a count off
the kernel's block makes the runtime reorder tensors between layers and fuse less (INT8 residual additions).

So the finalists (the layer probe's pick and the ISA's SIMD multiple from the table) each cut a copy of the model
to the same MACs (`CHECK_MACS_SPEEDUP`, by the prune stage's own pruner and a ratio search), and the copies run in
the same interleaved rounds in the target precision. The multiple whose network does the most MACs per ms wins;
within NOISE the smaller multiple stays (it leaves targets easier to land).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

    from toolkit.prune.precision import PruneFacts

CHECK_MACS_SPEEDUP = 1.5  # a cut every finalist reaches at ResNet-20's sizes, as deep as a typical target


def finalists(layer_pick: int, table_pick: int, cap: int) -> list[int]:
    """The multiples the network check times: the layer probe's and the table's, those allowed by `cap`."""
    return sorted({m for m in (layer_pick, table_pick) if m <= cap})


def cut_to_macs(model: nn.Module, example: torch.Tensor, base: int, multiple: int, num_classes: int,
                speedup: float = CHECK_MACS_SPEEDUP) -> tuple[nn.Module, int]:
    """A copy of `model` (`base` MACs) cut uniformly (L2 magnitude, the stage's pruner) to about `speedup`x fewer
    MACs with channel counts at multiples of `multiple`; returns it and its MACs for `example` ((1, C, H, W))."""
    from toolkit.measure.profile import count_macs_params
    from toolkit.prune.channels import PrunePlan, prune_once
    from toolkit.prune.search import search_ratio

    plan = PrunePlan(method="l2", round_to=multiple, num_classes=num_classes)

    def achieved(ratio: float) -> float:
        return base / count_macs_params(prune_once(copy.deepcopy(model), example, plan, ratio), example)[0]

    ratio, _, _ = search_ratio(achieved, speedup, high=0.8, tolerance=0.05)
    cut = prune_once(copy.deepcopy(model), example, plan, ratio)
    return cut, count_macs_params(cut, example)[0]


def load_probe(runtime, model: nn.Module, example: torch.Tensor, facts: PruneFacts, batches: list[torch.Tensor],
               path: Path):
    """A session of `model` on `runtime` in the precision of `facts`: the module itself where the runtime runs torch,
    else its ONNX export at `path`, converted (int8: calibrated on `batches`) as the quantize stage would."""
    from toolkit.artifacts import ONNX, TORCH, ModelArtifact
    from toolkit.convert.onnx import export_onnx
    from toolkit.prune.precision import ProbeConverter

    if TORCH in runtime.formats:
        return runtime.load(model)
    export_onnx(model, path, example)
    artifact = ModelArtifact(ONNX, path) if facts.precision == "fp32" else ProbeConverter(facts, batches)(path)
    return runtime.load(artifact)


def time_networks(models: dict[int, nn.Module], example: torch.Tensor, runtime_name: str, batch_size: int,
                  facts: PruneFacts, work: Path, timing, rounds: int) -> dict[int, float]:
    """p50 in ms of each model, in the precision of `facts` on the runtime, all in the same interleaved rounds."""
    import torch

    from toolkit.measure.rounds import session_sampler, time_rounds
    from toolkit.runtimes import get_runtime

    runtime = get_runtime(runtime_name)
    with torch.random.fork_rng():  # calibration noise must not move the run's random stream
        torch.manual_seed(0)
        batches = [torch.randn(8, *example.shape[1:])] if facts.precision == "int8" else []
    samplers = {}
    for multiple, model in models.items():
        session = load_probe(runtime, model, example, facts, batches, work / f"network-m{multiple}.onnx")
        samplers[multiple] = session_sampler(session, example.repeat(batch_size, 1, 1, 1).numpy())[0]
    timed = time_rounds(samplers, timing, rounds)
    return {m: timed[m]["p50_ms"] for m in models}


def network_check(model: nn.Module, example: torch.Tensor, candidates: list[int], runtime_name: str,
                  batch_size: int, facts: PruneFacts, num_classes: int, work: Path, timing, rounds: int,
                  noise: float) -> dict[str, Any]:
    """Cut the model at each candidate multiple to the same MACs, time them together, pick one.

    Returns {"value", "macs_speedup", "rows": [{"multiple", "macs", "p50_ms", "macs_per_ms", "score"}]} where
    score is MACs per ms against the best; raises what pruning, exporting or timing raises (the caller keeps
    the layer probe's pick then)."""
    from toolkit.measure.profile import count_macs_params

    base = count_macs_params(model, example)[0]
    cuts = {m: cut_to_macs(model, example, base, m, num_classes) for m in candidates}
    p50 = time_networks({m: cut for m, (cut, _) in cuts.items()}, example, runtime_name, batch_size, facts, work,
                        timing, rounds)
    rate = {m: cuts[m][1] / p50[m] for m in candidates if p50[m] > 0}
    best = max(rate.values())
    rows = [{"multiple": m, "macs": cuts[m][1], "macs_speedup": round(base / cuts[m][1], 3),
             "p50_ms": round(p50[m], 5), "macs_per_ms": round(rate[m]), "score": round(rate[m] / best, 4)}
            for m in sorted(rate)]
    value = min(r["multiple"] for r in rows if r["score"] >= 1 - noise)
    return {"value": value, "macs_speedup": CHECK_MACS_SPEEDUP, "rows": rows}


def describe(check: dict[str, Any], precision: str, runtime_name: str) -> str:
    """One clause for the reason: what the network check timed and what it kept."""
    timed = ", ".join(f"multiples of {r['multiple']} {r['p50_ms']:.4g} ms ({r['macs_speedup']}x fewer MACs)"
                      for r in check["rows"])
    return (f"the whole network cut to about {check['macs_speedup']}x fewer MACs in {precision} on {runtime_name}: "
            f"{timed}; kept {check['value']} (most MACs per ms; within 3% the smaller multiple)")


def with_network_check(record: dict[str, Any], model: nn.Module, example: torch.Tensor, facts: PruneFacts,
                       table_pick: int, num_classes: int | None, work: Path, timing, rounds: int, noise: float,
                       log: Callable[[str], None]) -> dict[str, Any]:
    """The layer probe's `record` with the network check applied where there are two finalists (and
    `num_classes` is known: it tells the pruner which layer is the classifier)."""
    candidates = finalists(record["value"], table_pick, record["largest_allowed"])
    if num_classes is None or len(candidates) < 2:
        return record
    from toolkit.measure.interrupts import reraise_if_interrupted

    try:
        check = network_check(model, example, candidates, record["runtime"], record["batch_size"], facts,
                              num_classes, work, timing, rounds, noise)
    except Exception as exc:  # the layer probe's pick stands; the reason says why there is no second look
        reraise_if_interrupted(exc)
        log(f"round_to auto: the whole-network check failed ({type(exc).__name__}: {exc}); keeping {record['value']}")
        return {**record, "network_check": {"error": f"{type(exc).__name__}: {exc}"}}
    clause = describe(check, record["precision"], record["runtime"])
    layer_pick = record["value"]
    changed = f"; the layer probe's {layer_pick} was overruled" if check["value"] != layer_pick else ""
    return {**record, "value": check["value"], "layer_probe_value": layer_pick, "network_check": check,
            "reason": f"{record['reason']}; then {clause}{changed}"}
