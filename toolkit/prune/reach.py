"""Which MACs targets each `round_to` can reach on a model with coupled channels (found by test prunes)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

RATIO_LADDER = (0.3, 0.5, 0.7, 0.8)  # coarse on purpose: a few test prunes, each on a copy of the model


def reachable_speedups(model: nn.Module, example: torch.Tensor, num_classes: int, ignore: list[str],
                       candidates: list[int | None], ratios: tuple[float, ...] = RATIO_LADDER
                       ) -> list[dict[str, Any]]:
    """Per candidate `round_to`: the largest MACs speedup (baseline MACs / pruned MACs) a uniform prune reaches.

    Each candidate is pruned at every ratio in `ratios` (default max_layer_ratio) on a deep copy of `model`;
    returns [{"round_to", "max_macs_speedup", "at_ratio"}] in candidate order (speedup 1.0 when nothing is
    removed, None with "error" when the prune fails). `example` is one input batch (N, C, H, W).
    """
    from toolkit.measure.profile import count_macs_params
    from toolkit.prune.channels import PrunePlan, prune_once

    base = count_macs_params(model, example)[0]
    out = []
    for round_to in candidates:
        best, at, error = 1.0, None, None
        for ratio in ratios:
            plan = PrunePlan(ignore=list(ignore), num_classes=num_classes, round_to=round_to)
            try:
                pruned = prune_once(copy.deepcopy(model), example, plan, ratio)
                speedup = base / max(count_macs_params(pruned, example)[0], 1)
            except Exception as exc:  # noqa: BLE001 - a failed candidate is reported, not raised
                error = f"{type(exc).__name__}: {exc}"[:200]
                break
            if speedup > best + 1e-6:
                best, at = speedup, ratio
        entry: dict[str, Any] = {"round_to": round_to, "max_macs_speedup": None if error else round(best, 2),
                                 "at_ratio": at}
        if error:
            entry["error"] = error
        out.append(entry)
    return out


def pick_round_to(reach: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The candidate reaching the largest MACs speedup; ties go to the larger round_to (friendlier to kernels)."""
    usable = [r for r in reach if r["max_macs_speedup"] is not None]
    if not usable:
        return None
    return max(usable, key=lambda r: (r["max_macs_speedup"], r["round_to"] or 0))


def describe_reach(reach: list[dict[str, Any]], default: int | None) -> str:
    """One line per candidate: 'round_to 8 (the default): up to macs_speedup 3.4 (ratio 0.5)'."""
    parts = []
    for r in reach:
        name = f"round_to {r['round_to'] if r['round_to'] is not None else 'null'}"
        if r["round_to"] == default:
            name += " (the default)"
        if r["max_macs_speedup"] is None:
            parts.append(f"{name}: test prune failed ({r.get('error')})")
        elif r["at_ratio"] is None:
            parts.append(f"{name}: removes nothing (no macs_speedup target is reachable)")
        else:
            parts.append(f"{name}: macs_speedup up to {r['max_macs_speedup']:g} (ratio {r['at_ratio']:g})")
    return "; ".join(parts)
