"""One uniform prune step to a ratio, MACs or parameter target: what the prune stage runs, and what `compress
inspect` runs on a copy of the model with the recipe's prune options, so that what one calls prunable the
other prunes."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from toolkit.measure.profile import count_macs_params
from toolkit.prune.channels import PrunePlan, prune_once
from toolkit.prune.config import Prune, PruneTarget
from toolkit.prune.search import search_ratio


def plan_for(cfg: Prune, num_classes: int, seed: int = 0) -> PrunePlan:
    """The PrunePlan of a prune stage's options (criterion, scope, limits, ignored layers); the taylor
    criterion's gradients are the caller's to add (`plan.gradients`), since they need labelled data."""
    return PrunePlan(cfg.method, cfg.global_pruning, cfg.max_layer_ratio, cfg.round_to, list(cfg.ignore),
                     num_classes, seed)


def step_goal(target: PruneTarget, steps: int, step: int) -> float:
    """The cumulative goal after `step` of `steps` (targets are reached geometrically): a ratio or parameter share
    removed, or a speedup."""
    frac = step / steps
    if target.ratio is not None:
        return 1 - (1 - target.ratio) ** frac
    if target.params_ratio is not None:
        return 1 - (1 - target.params_ratio) ** frac
    return (target.macs_speedup or target.latency_speedup) ** frac


def prune_to_goal(model: nn.Module, example: torch.Tensor, plan: PrunePlan, cfg: Prune, base: tuple[int, int],
                  step: int) -> dict[str, Any]:
    """Prune `model` in place (CPU, eval) for step `step` of `cfg.steps` of a ratio, macs_speedup or params_ratio
    target; `base` is the unpruned (MACs, params) and `example` one (1, C, H, W) image.

    A ratio target removes the step's share of the current channels; a MACs or parameter target searches the ratio
    that reaches the step's goal on copies first (search_ratio). Returns the step's record (ratio, goal, search
    trials). Raises ToolkitError when Torch-Pruning fails or the goal is out of reach, and PruneBlocked
    (toolkit.prune.failing_call) when the pruned model's code no longer runs.
    """
    t = cfg.target
    goal = step_goal(t, cfg.steps, step)
    if t.ratio is not None:  # per-step ratio relative to the current channel counts
        previous = step_goal(t, cfg.steps, step - 1)
        ratio = 1 - (1 - goal) / (1 - previous)
        prune_once(model, example, plan, ratio)
        return {"ratio": round(ratio, 5)}
    if t.macs_speedup is None and t.params_ratio is None:
        raise ValueError("prune_to_goal takes a ratio, macs_speedup or params_ratio target")
    base_macs, base_params = base

    def achieved_at(ratio: float) -> float:
        macs, params = count_macs_params(prune_once(copy.deepcopy(model), example, plan, ratio), example)
        return base_macs / macs if t.macs_speedup is not None else 1 - params / base_params

    ratio, achieved, trials = search_ratio(achieved_at, goal, high=cfg.max_layer_ratio, tolerance=cfg.tolerance)
    prune_once(model, example, plan, ratio)
    return {"ratio": round(ratio, 5), "goal": round(goal, 5), "search": trials}
