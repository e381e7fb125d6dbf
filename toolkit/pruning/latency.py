"""Latency-targeted pruning: prune more until the pruned model is measured fast enough on a runtime."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.context import StageContext
from toolkit.errors import ToolkitError
from toolkit.measure.latency import time_calls
from toolkit.measure.profile import count_macs_params
from toolkit.pruning.engine import PrunePlan, prune_once
from toolkit.registry import ONNX, TORCH
from toolkit.specs import MeasureSpec

PROBE_TIMING = MeasureSpec(warmup_s=0.2, min_iters=30, min_time_s=0.3, max_time_s=10.0)


def measure_latency_ms(model: nn.Module, runtime_name: str, batch_size: int, example: torch.Tensor,
                       timing: MeasureSpec = PROBE_TIMING) -> float:
    """p50 latency in ms of `model` on a runtime (exported to ONNX first where the runtime needs it)."""
    from toolkit.artifacts import ModelArtifact
    from toolkit.onnxutil import export_onnx
    from toolkit.runtimes import get_runtime

    runtime = get_runtime(runtime_name)
    reason = runtime.unavailable()
    if reason:
        raise ToolkitError(f"prune.target.runtime: {runtime_name} cannot run here: {reason}")
    images = example[:1].repeat(batch_size, 1, 1, 1).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        if TORCH in runtime.formats:
            session = runtime.load(model)
        elif ONNX in runtime.formats:
            path = Path(tmp) / "probe.onnx"
            export_onnx(model, path, example)
            session = runtime.load(ModelArtifact(ONNX, path))
        else:
            raise ToolkitError(f"prune.target.runtime: {runtime_name} runs neither torch nor ONNX models")
        return time_calls(lambda: session.predict(images), timing, session.sync)["p50_ms"]


def latency_step(model: nn.Module, cfg, plan: PrunePlan, example: torch.Tensor, step: int,
                 ctx: StageContext) -> dict[str, Any]:
    """Walk the ratio up until the measured speedup reaches this step's goal, refine, then prune.

    With several processes only rank 0 measures; the others apply the ratio it found.
    """
    shared = ctx.dist is not None and cfg.trains()  # the other ranks run this stage only when it trains
    if shared and not ctx.is_main:
        chosen = ctx.dist.broadcast(None)
        prune_once(model, example, plan, chosen)
        return {"ratio": round(chosen, 5)}
    record = _latency_search(model, cfg, plan, example, step, ctx)
    if shared:
        ctx.dist.broadcast(record["ratio_exact"])
    record.pop("ratio_exact")
    return record


def _latency_search(model: nn.Module, cfg, plan: PrunePlan, example: torch.Tensor, step: int,
                    ctx: StageContext) -> dict[str, Any]:
    t = cfg.target
    goal = t.latency_speedup ** (step / cfg.steps)
    cache = ctx.__dict__.setdefault("_latency_base", {})  # the unpruned model's latency, measured once
    if "ms" not in cache:
        cache["ms"] = measure_latency_ms(model, t.runtime, t.batch_size, example)
        cache["macs"] = count_macs_params(model, example)[0]
    base_ms = cache["ms"]
    curve: list[dict[str, Any]] = []

    def probe(ratio: float) -> float:
        pruned = prune_once(copy.deepcopy(model), example, plan, ratio) if ratio > 0 else model
        ms = measure_latency_ms(pruned, t.runtime, t.batch_size, example)
        macs = count_macs_params(pruned, example)[0]
        point = {"ratio": round(ratio, 4), "macs": macs, "latency_ms": ms, "speedup": round(base_ms / ms, 4),
                 "macs_speedup": round(cache["macs"] / macs, 4)}
        curve.append(point)
        ctx.log.info(f"latency probe: ratio {ratio:.3f} MACs {cache['macs'] / macs:.2f}x -> "
                     f"{ms:.3f} ms ({base_ms / ms:.2f}x of {base_ms:.3f} ms)")
        return base_ms / ms

    low, high, step_size = 0.0, None, 0.1
    ratio = step_size
    while ratio <= cfg.max_layer_ratio + 1e-9:
        if probe(ratio) >= goal:
            high = ratio
            break
        low, ratio = ratio, ratio + step_size
    if high is None:
        # Unreachable: take the least pruning that gets within 5% of the best measured speedup, since
        # pruning more for a difference inside the measurement noise only costs accuracy.
        top = max(p["speedup"] for p in curve)
        best = min((p for p in curve if p["speedup"] >= 0.95 * top), key=lambda p: p["ratio"])
        ctx.log.warning(f"latency target {goal:.2f}x not reached on {t.runtime}: the most measured was {top}x; "
                        f"keeping ratio {best['ratio']} ({best['speedup']}x), the least pruning within 5% of it")
        chosen = best["ratio"]
    else:
        for _ in range(3):  # refine: the smallest ratio that still meets the goal
            mid = (low + high) / 2
            if probe(mid) >= goal:
                high = mid
            else:
                low = mid
        chosen = high
    prune_once(model, example, plan, chosen)
    return {"ratio": round(chosen, 5), "ratio_exact": chosen, "goal": round(goal, 4), "base_latency_ms": base_ms,
            "runtime": t.runtime,
            "batch_size": t.batch_size, "curve": curve, "target_met": high is not None}
