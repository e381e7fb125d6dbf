"""Pruning sensitivity: each prunable group pruned alone, its accuracy lost and its measured latency saved.

The method follows the per-layer sensitivity analysis of Distiller and NNI (prune one layer at a time
without fine-tuning, read the accuracy) with NetAdapt's point (Yang et al., ECCV 2018,
arXiv:1804.03230): what a layer costs must be measured on the target runtime, not proxied by MACs. Every
pruned variant is timed back to back with the unpruned model, in rounds, and the median saving is kept.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from toolkit.measure.profile import count_macs_params
from toolkit.prune.channels import PrunePlan
from toolkit.prune.groups import prunable_groups, prune_groups

DEFAULT_RATIOS = (0.25, 0.5, 0.75)


def variant_id(root: str, ratio: float) -> str:
    """'layer1.0.conv1@0.5': the key of one pruned variant in the results."""
    return f"{root}@{ratio:g}"


def analyze_pruning(model: nn.Module, example: torch.Tensor, plan: PrunePlan, *,
                    accuracy_of: Callable[[nn.Module], float],
                    load_caller: Callable[[nn.Module], Callable[[], Any]] | None,
                    time_round: Callable[[Callable[[], Any], dict[str, Callable[[], Any]]], dict[str, list[float]]]
                    | None = None,
                    ratios: tuple[float, ...] = DEFAULT_RATIOS, rounds: int = 5,
                    state: dict[str, Any] | None = None, save: Callable[[dict[str, Any]], None] = lambda s: None,
                    log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Per group and ratio: top-1 (`accuracy_of`, a fraction), MACs, params and measured latency saved.

    `load_caller(model)` returns a no-argument call that runs the model once on the target runtime
    (None: no latency). `time_round(base_call, {id: call})` times one round of pairs (default:
    toolkit.measure.paired.paired_round). `state` holds results of an interrupted analysis, which are
    reused; `save(state)` is called after each group and each timing round so an interruption loses
    at most one of them. Returns the state, complete: {"baseline", "groups", "latency_rounds",
    "seconds"}. Ratios above `plan.max_layer_ratio` are capped by Torch-Pruning as in a real prune.
    """
    from toolkit.measure.paired import paired_round

    time_round = time_round or paired_round
    state = state if state is not None else {}
    started = time.perf_counter() - float(state.get("seconds", 0.0))
    model = model.cpu().eval()
    example = example[:1].cpu()
    if "baseline" not in state:
        macs, params = count_macs_params(model, example)
        state["baseline"] = {"top1": accuracy_of(model), "macs": macs, "params": params}
        state["groups"] = prunable_groups(model, example, plan)
        state["latency_rounds"] = []
        save(state)
    for number, group in enumerate(state["groups"], 1):
        done = group.setdefault("ratios", {})
        if all(f"{r:g}" in done for r in ratios):
            continue
        for ratio in ratios:
            if f"{ratio:g}" in done:
                continue
            pruned = prune_groups(copy.deepcopy(model), example, plan, {group["root"]: ratio})
            macs, params = count_macs_params(pruned, example)
            kept = _channels_of(pruned, group["root"])
            done[f"{ratio:g}"] = {"top1": accuracy_of(pruned), "macs": macs, "params": params, "channels": kept}
        log(f"group {number}/{len(state['groups'])} {group['root']}: top-1 "
            + ", ".join(f"{r}: {v['top1']:.4f}" for r, v in done.items()))
        state["seconds"] = time.perf_counter() - started
        save(state)
    if load_caller is not None and len(state["latency_rounds"]) < rounds:
        base_call = load_caller(model)
        calls = {}
        for group in state["groups"]:
            for ratio in ratios:
                if group["ratios"][f"{ratio:g}"]["channels"] == group["channels"]:
                    continue  # rounding or max_layer_ratio left it whole: nothing to time
                pruned = prune_groups(copy.deepcopy(model), example, plan, {group["root"]: ratio})
                calls[variant_id(group["root"], ratio)] = load_caller(pruned)
        while len(state["latency_rounds"]) < rounds:
            state["latency_rounds"].append(time_round(base_call, calls))
            log(f"latency round {len(state['latency_rounds'])}/{rounds} done")
            state["seconds"] = time.perf_counter() - started
            save(state)
    state["seconds"] = time.perf_counter() - started
    return state


def _channels_of(model: nn.Module, root: str) -> int:
    module = model.get_submodule(root)
    return int(getattr(module, "out_channels", None) or module.out_features)


def pruning_table(state: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per group and ratio: points lost, MACs/params/latency saved (ms and share), points per ms."""
    from toolkit.measure.paired import summarize_rounds

    base = state["baseline"]
    base_ms, timed = summarize_rounds(state.get("latency_rounds") or [])
    rows = []
    for group in state["groups"]:
        for ratio, result in group.get("ratios", {}).items():
            vid = f"{group['root']}@{ratio}"
            lat = timed.get(vid)
            whole = result["channels"] == group["channels"]
            saved_ms = 0.0 if whole else (lat or {}).get("saved_ms")
            row = {"root": group["root"], "ratio": float(ratio), "channels": group["channels"],
                   "channels_after": result["channels"], "members": len(group["members"]),
                   "top1": result["top1"], "points_lost": round((base["top1"] - result["top1"]) * 100, 4),
                   "macs_saved": base["macs"] - result["macs"], "params_saved": base["params"] - result["params"],
                   "macs_share": round(1 - result["macs"] / base["macs"], 5),
                   "latency_saved_ms": saved_ms,
                   "latency_share": None if saved_ms is None or not base_ms else round(saved_ms / base_ms, 5),
                   "latency_spread_ms": 0.0 if whole else (lat or {}).get("spread_ms")}
            row["points_per_ms"] = (round(max(row["points_lost"], 0.0) / saved_ms, 4)
                                    if saved_ms is not None and saved_ms > 0 else None)
            rows.append(row)
    return rows
