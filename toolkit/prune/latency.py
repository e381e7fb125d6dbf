"""Latency-targeted pruning: prune more until the pruned model is measured fast enough on a runtime."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.artifacts import ONNX, TORCH
from toolkit.config import MeasureSpec
from toolkit.distributed import Dist
from toolkit.errors import ToolkitError
from toolkit.measure.latency import time_samples
from toolkit.measure.profile import count_macs_params
from toolkit.prune.channels import PrunePlan, prune_once
from toolkit.prune.config import Prune
from toolkit.prune.latency_probe import PROBE_TIMING
from toolkit.prune.precision import PrecisionPlan
from toolkit.site import SiteLog


def measure_latency_ms(model: nn.Module, runtime_name: str, batch_size: int, example: torch.Tensor,
                       timing: MeasureSpec = PROBE_TIMING) -> float:
    """p50 latency in ms of `model` alone on a runtime (exported to ONNX first where the runtime needs it).

    The latency search does not use this single number: see `latency_probe.ProbeTimer`.
    """
    from toolkit.artifacts import ModelArtifact
    from toolkit.convert.onnx import export_onnx
    from toolkit.measure.rounds import session_sampler
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
        return time_samples(session_sampler(session, images)[0], timing)["p50_ms"]


def latency_step(model: nn.Module, cfg: Prune, plan: PrunePlan, example: torch.Tensor, step: int, *,
                 log: SiteLog, baseline: dict[str, Any], dist: Dist | None = None,
                 precision: PrecisionPlan | None = None) -> dict[str, Any]:
    """Walk the ratio up until the measured speedup reaches this step's goal, refine, then prune.

    `example`: a (N, C, H, W) input batch; `baseline`: a dict kept across the stage's steps, where the
    unpruned model's timer is made once. `precision`: the precision candidates are timed in and how they are
    made (None: fp32). With several processes (`dist`) only rank 0 measures; the others apply the ratio it found.
    """
    shared = dist is not None and cfg.trains()  # the other ranks run this stage only when it trains
    if shared and not dist.is_main:
        chosen = dist.broadcast(None)
        prune_once(model, example, plan, chosen)
        return {"ratio": round(chosen, 5)}
    record = _latency_search(model, cfg, plan, example, step, log, baseline, precision or PrecisionPlan())
    if shared:
        dist.broadcast(record["ratio_exact"])
    record.pop("ratio_exact")
    return record


def _latency_search(model: nn.Module, cfg: Prune, plan: PrunePlan, example: torch.Tensor, step: int,
                    log: SiteLog, cache: dict[str, Any], precision: PrecisionPlan) -> dict[str, Any]:
    from toolkit.prune.latency_probe import ProbeTimer
    from toolkit.prune.latency_search import search_latency_ratio

    t = cfg.target
    goal = t.latency_speedup ** (step / cfg.steps)
    # The unpruned model is the baseline of every step; it is timed again in the same rounds as each probe.
    if "timer" not in cache:
        cache["base_model"] = copy.deepcopy(model).eval()
        cache["timer"] = ProbeTimer(cache["base_model"], t.runtime, t.batch_size, example,
                                    convert=precision.converter)
        cache["macs"] = count_macs_params(model, example)[0]
        log.info(f"latency target timed in {precision.facts.precision} on {t.runtime} "
                 f"({precision.facts.precision_reason})")
    timer = cache["timer"]
    found = search_latency_ratio(
        lambda ratio: prune_once(copy.deepcopy(model), example, plan, ratio) if ratio > 0 else model,
        lambda pruned: count_macs_params(pruned, example)[0], cache["macs"], goal, timer, cfg.max_layer_ratio,
        log.info)
    if not found["target_met"]:
        log.warning(f"latency target {goal:.2f}x on {t.runtime}: {found['target_reason']}")
    chosen = found["ratio_exact"]
    prune_once(model, example, plan, chosen)
    base_ms = next((p["base_ms"] for p in found["curve"] if p.get("base_ms")), None)
    # the probe of the network kept, timed against the unpruned input in the same rounds (pruned_vs_input)
    point = next((p for p in reversed(found["curve"]) if p["ratio"] == round(chosen, 4)), None)
    kept = None if point is None else {k: point.get(k) for k in ("latency_ms", "base_ms", "speedup", "speedup_ci",
                                                                 "unstable")}
    record = {"ratio": round(chosen, 5), "ratio_exact": chosen, "goal": round(goal, 4), "base_latency_ms": base_ms,
              "chosen": kept, "runtime": t.runtime, "batch_size": t.batch_size, "curve": found["curve"],
              "target_met": found["target_met"], "target_reason": found["target_reason"],
              "probe_measurements": timer.measurements, **precision.record()}
    if precision.converter is not None and kept is not None:  # what the same cut buys in fp32, side by side
        fp32 = ProbeTimer(cache["base_model"], t.runtime, t.batch_size, example).measure(model)
        record["chosen_fp32"] = {k: fp32.get(k) for k in ("latency_ms", "base_ms", "speedup", "speedup_ci",
                                                          "unstable")}
        log.info(f"chosen cut: {kept['speedup']}x in {precision.facts.precision}, {fp32['speedup']}x in fp32 "
                 f"on {t.runtime}")
    return record
