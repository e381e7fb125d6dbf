"""The prune stage's `allocation: sensitivity` step: analyze (or reuse an analysis), allocate, prune, check."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.data import DataBundle
from toolkit.distributed import Dist
from toolkit.measure.profile import count_macs_params
from toolkit.prune.channels import PrunePlan, channel_counts
from toolkit.prune.config import Prune
from toolkit.prune.groups import prune_groups
from toolkit.site import SiteLog


@dataclass
class AnalysisPlace:
    """What the allocation step reads and writes besides the model: the validation data (and its identity,
    part of the analysis' cache key; None where in-memory inputs cannot be keyed, so nothing cached is
    reused), the run folder whose `analysis/` it may reuse, the stage folder it writes to, and ONNX Runtime's
    and OpenVINO's thread count for the timing."""

    data: DataBundle
    data_key: str | None
    run_dir: Path
    stage_dir: Path
    threads: int | None
    log: SiteLog


def _analysis_rows(model: nn.Module, cfg: Prune, plan: PrunePlan, example: torch.Tensor, place: AnalysisPlace
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The pruning table of this model: from a finished `compress analyze` with the same key, else computed."""
    from toolkit.fsutil import atomic_write_json
    from toolkit.models.fingerprint import model_fingerprint
    from toolkit.prune.sensitivity_cache import find_cached, pruning_key, run_pruning_analysis, torch_accuracy

    opts, t = cfg.sensitivity, cfg.target
    samples = min(opts.samples, len(place.data.val))
    ratios = tuple(opts.ratios)
    key = pruning_key(model_fingerprint(model), runtime=t.runtime, batch_size=t.batch_size, samples=samples,
                      ratios=ratios, rounds=opts.rounds, plan=plan, data_key=place.data_key or "")
    found = find_cached(place.run_dir, "prune_key", key) if place.data_key is not None else None
    if found is not None:
        place.log.info(f"sensitivity analysis reused from {place.run_dir / 'analysis'} (same model and settings)")
        return found["pruning"], {"reused": True, "seconds": found["seconds"].get("pruning"),
                                  "base_ms": found["runtime"]["base_ms"], "samples": samples, "key": key}
    accuracy_of = torch_accuracy(lambda: place.data.val_batches(limit=samples), place.data.num_classes)
    rows, state = run_pruning_analysis(model, example, plan, accuracy_of=accuracy_of, runtime=t.runtime,
                                       batch_size=t.batch_size, ratios=ratios, rounds=opts.rounds,
                                       state_file=place.stage_dir / "sensitivity.partial.json", key=key,
                                       threads=place.threads, log=place.log.info)
    from toolkit.measure.paired import summarize_rounds

    info = {"reused": False, "seconds": round(state.get("seconds", 0.0), 2),
            "base_ms": summarize_rounds(state["latency_rounds"])[0], "samples": samples, "key": key}
    atomic_write_json(place.stage_dir / "sensitivity.json", {"prune_key": key, "baseline": state["baseline"],
                                                           "groups": state["groups"], "pruning": rows, **info})
    (place.stage_dir / "sensitivity.partial.json").unlink(missing_ok=True)
    return rows, info


def _predicted_latency_saved(rows: list[dict[str, Any]], ratios: dict[str, float]) -> float:
    """Sum over groups of the analysis' latency saving, interpolated at each chosen ratio."""
    total = 0.0
    for root, ratio in ratios.items():
        mine = sorted((r for r in rows if r["root"] == root), key=lambda r: r["ratio"])
        total += float(np.interp(ratio, [0.0] + [r["ratio"] for r in mine],
                                 [0.0] + [r.get("latency_saved_ms") or 0.0 for r in mine]))
    return total


def predicted_latency(base_ms: float | None, saved_ms: float) -> float | None:
    """The additive model's latency (ms): the unpruned latency less the sum of each group's saving in the
    analysis. None when that sum reaches the whole latency: groups interact (cutting both sides of a layer saves
    less than the two cuts alone), and a zero or negative latency is no prediction."""
    if base_ms is None or saved_ms >= base_ms:
        return None
    return base_ms - saved_ms


def sensitivity_step(model: nn.Module, cfg: Prune, plan: PrunePlan, example: torch.Tensor, base: tuple[int, int],
                     place: AnalysisPlace, dist: Dist | None = None) -> dict[str, Any]:
    """Prune `model` in place by per-group ratios chosen from its sensitivity; returns the step record.

    `example`: a (N, C, H, W) input batch; `base`: the unpruned model's (MACs, parameters).
    With several processes (`dist`) only rank 0 analyzes and measures; the others apply the ratios it chose.
    """
    shared = dist is not None and cfg.trains()  # the other ranks run this stage only when it trains
    if shared and not dist.is_main:
        ratios = dist.broadcast(None)
        prune_groups(model, example, plan, ratios)
        return {"ratio": "per-group (sensitivity)", "allocation": {"ratios": ratios}}
    record = _allocate_and_prune(model, cfg, plan, example, base, place)
    if shared:
        dist.broadcast(record["allocation"]["ratios"])
    return record


def _allocate_and_prune(model: nn.Module, cfg: Prune, plan: PrunePlan, example: torch.Tensor, base: tuple[int, int],
                        place: AnalysisPlace) -> dict[str, Any]:
    from toolkit.measure.paired import paired_round, runtime_callers, summarize_rounds
    from toolkit.prune.allocation import allocate

    t, tol = cfg.target, cfg.tolerance
    rows, info = _analysis_rows(model, cfg, plan, example, place)
    base_macs, base_params = base
    with runtime_callers(t.runtime, t.batch_size, example, place.threads) as load:
        base_call = load(model)

        def measured(ratios: dict[str, float], rounds: int) -> tuple[float, dict[str, float]]:
            """(unpruned ms, {saved_ms, spread_ms, variant_ms}) from `rounds` paired rounds."""
            call = load(prune_groups(copy.deepcopy(model), example, plan, ratios))
            base_ms, timed = summarize_rounds([paired_round(base_call, {"x": call}) for _ in range(rounds)])
            return base_ms, timed["x"]

        if t.latency_speedup is not None:
            base_ms = summarize_rounds([paired_round(base_call, {"base": base_call})])[0]
            cost, total, goal = "latency_saved_ms", base_ms, t.latency_speedup
            accept = (total * (1 - 1 / goal), total * (1 - 1 / (goal * (1 + tol))))

            def achieved(ratios):
                # the speedup of paired rounds, in ms of the first base: the VM's speed drifts by tens of
                # percent over minutes, and an absolute saving would mean another speedup after a drift
                base_now, timed = measured(ratios, cfg.sensitivity.check_rounds)
                return total * (1 - timed["variant_ms"] / base_now)
        else:
            pruned_share = t.params_ratio is not None
            cost, total = ("params_saved", base_params) if pruned_share else ("macs_saved", base_macs)
            if pruned_share:
                accept = (total * t.params_ratio * (1 - tol), total * t.params_ratio * (1 + tol))
            else:
                goal = t.macs_speedup
                accept = (total * (1 - 1 / (goal * (1 - tol))), total * (1 - 1 / (goal * (1 + tol))))

            def achieved(ratios):
                pruned = prune_groups(copy.deepcopy(model), example, plan, ratios)
                macs, params = count_macs_params(pruned, example)
                return float(total - (params if pruned_share else macs))
        target_saved = accept[0] if t.latency_speedup is not None else (accept[0] + accept[1]) / 2
        chosen = allocate(rows, cost=cost, goal=target_saved, accept=accept, max_ratio=cfg.max_layer_ratio,
                          achieved_saved=achieved, log=place.log.info)
        before = channel_counts(model)
        prune_groups(model, example, plan, chosen["ratios"])
        final_base_ms, final = measured(chosen["ratios"], cfg.sensitivity.rounds)
    after = channel_counts(model)
    predicted_ms = predicted_latency(info["base_ms"], _predicted_latency_saved(rows, chosen["ratios"]))
    allocation = {
        "method": "greedy on top-1 points lost per unit saved (NetAdapt, Yang et al. 2018), one-shot sensitivity",
        "cost": cost, "ratios": chosen["ratios"], "predicted_points_lost": chosen["predicted_points_lost"],
        "channels": {root: [before.get(root), after.get(root)] for root in chosen["ratios"]},
        "runtime": t.runtime, "batch_size": t.batch_size, "base_latency_ms": info["base_ms"],
        "predicted_latency_ms": None if predicted_ms is None else round(predicted_ms, 5),
        "achieved_latency_ms": final["variant_ms"], "unpruned_latency_ms": final_base_ms,
        "achieved_saved_ms": final["saved_ms"], "achieved_spread_ms": final["spread_ms"],
        "iterations": chosen["iterations"], "analysis": info, "moves": chosen["moves"]}
    record: dict[str, Any] = {"ratio": "per-group (sensitivity)", "allocation": allocation}
    if t.latency_speedup is not None:
        speedup = final_base_ms / final["variant_ms"]
        record.update(goal=t.latency_speedup, base_latency_ms=final_base_ms, runtime=t.runtime,
                      batch_size=t.batch_size, speedup=round(speedup, 4), target_met=speedup >= t.latency_speedup)
    said = "no prediction (the groups' savings add up past the unpruned latency)" if predicted_ms is None else \
        f"predicted {predicted_ms:.4f} ms"
    place.log.info(f"sensitivity allocation: {len(chosen['ratios'])} group(s) pruned, {said}, achieved "
                 f"{allocation['achieved_latency_ms']:.4f} ms on {t.runtime} b{t.batch_size} (unpruned "
                 f"{final_base_ms:.4f} ms); predicted top-1 loss before recovery "
                 f"{chosen['predicted_points_lost']} points")
    return record
