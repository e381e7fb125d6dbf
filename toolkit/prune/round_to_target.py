"""`round_to: auto` yields to a MACs or parameter target: the measured multiple, halved until the target is
reachable within the tolerance.

The probe picks the channel multiple the runtime runs fastest; on a narrow model a coarse multiple makes the
reachable MACs a staircase with steps wider than the tolerance (seed_cnn, 32-64 channels, at multiples of 8:
1.68x at best for a 2x target; at multiples of 2, 1.96x). The target is what the user asked for, the multiple
is the toolkit's own choice, so auto gives way. A round_to the recipe sets is kept as written (its miss is warned
about by the stage).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from toolkit.errors import ToolkitError
from toolkit.prune.config import Prune
from toolkit.prune.target import plan_for, prune_to_goal


def achieved_at_multiple(model: nn.Module, example: torch.Tensor, cfg: Prune, multiple: int, num_classes: int,
                         base: tuple[int, int]) -> float | None:
    """The MACs speedup (or parameter share removed) a one-step search reaches at `multiple` on a copy of the
    model; None when no ratio reaches the target's neighbourhood. Taylor's gradients need labelled data, so the
    probe ranks channels by L2 norm: with a per-layer ratio the channel counts, and so the MACs, do not depend on
    the criterion (with global pruning they may differ a little)."""
    probe = cfg.model_copy(update={"round_to": multiple, "steps": 1,
                                   "method": "l2" if cfg.method == "taylor" else cfg.method})
    try:  # the search already counted what its chosen ratio achieves: no second prune or count
        record = prune_to_goal(copy.deepcopy(model), example, plan_for(probe, num_classes), probe, base, step=1)
    except ToolkitError:
        return None
    return next(t["achieved"] for t in record["search"] if t["ratio"] == record["ratio"])


def fit_round_to_to_target(model: nn.Module, example: torch.Tensor, cfg: Prune, chosen: dict[str, Any],
                           num_classes: int, base: tuple[int, int], say: Callable[[str], None]) -> Prune:
    """`cfg` with round_to lowered from `chosen["value"]` (auto's measured multiple) by halving until the MACs or
    parameter target is met within cfg.tolerance; `chosen` (the stage's extra.round_to) gains `measured` and
    `lowered_for_target` (each multiple tried and what it reached) and its reason says why. When no multiple
    down to 1 meets the target, the closest is kept. Other targets (ratio, latency) return `cfg` unchanged."""
    target = cfg.target.macs_speedup if cfg.target.macs_speedup is not None else cfg.target.params_ratio
    if target is None or not isinstance(cfg.round_to, int):
        return cfg
    tried: list[dict[str, Any]] = []
    multiple = cfg.round_to
    while True:
        achieved = achieved_at_multiple(model, example, cfg, multiple, num_classes, base)
        tried.append({"multiple": multiple, "achieved": None if achieved is None else round(achieved, 4)})
        if (achieved is not None and abs(achieved / target - 1) <= cfg.tolerance) or multiple == 1:
            break
        multiple //= 2
    reached = [t for t in tried if t["achieved"] is not None]
    best = min(reached, key=lambda t: abs(t["achieved"] / target - 1), default=None)  # the met one, if any
    if best is None or best is tried[0]:  # nothing reached, or no smaller multiple came closer: keep the measured
        return cfg
    unit = "x MACs" if cfg.target.macs_speedup is not None else " of the parameters removed"
    first = tried[0]
    at_first = "is out of reach" if first["achieved"] is None else f"lands at {first['achieved']:.3g}{unit} at best"
    why = (f"lowered from {first['multiple']} to {best['multiple']} for the target {target:g}{unit}: at multiples "
           f"of {first['multiple']} it {at_first} (tolerance {cfg.tolerance:.0%})")
    chosen.update(measured=first["multiple"], value=best["multiple"], lowered_for_target=tried,
                  reason=f"{chosen.get('reason', '')}; {why}".lstrip("; "))
    say(f"round_to: auto {why}")
    return cfg.model_copy(update={"round_to": best["multiple"]})
