"""Sensitivity-aware allocation: per-group pruning ratios that reach a target with the least predicted loss.

Greedy on accuracy lost per unit of cost saved, as in NetAdapt (Yang et al., "NetAdapt: Platform-Aware
Neural Network Adaptation for Mobile Applications", ECCV 2018, arXiv:1804.03230): cost is measured on the
target platform (latency in ms) or counted (MACs, parameters), and each step takes the move that gives
the most cost for the least accuracy. Unlike NetAdapt we do not fine-tune between steps: each group's
accuracy and cost come from a one-shot sensitivity analysis (toolkit.prune.sensitivity), assumed
additive across groups; the assumption is then checked by pruning and measuring the whole model, and
the goal handed to the greedy pass is corrected by what was achieved (a few rounds at most).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

COSTS = ("latency_saved_ms", "macs_saved", "params_saved")


def _levels(rows: list[dict[str, Any]], cost: str, max_ratio: float) -> dict[str, list[tuple[float, float, float]]]:
    """Per group: (ratio, points lost >= 0, cost saved) from 0 up to max_ratio."""
    levels: dict[str, list[tuple[float, float, float]]] = {}
    for row in sorted(rows, key=lambda r: r["ratio"]):
        if row["ratio"] > max_ratio + 1e-9:
            continue
        levels.setdefault(row["root"], [(0.0, 0.0, 0.0)]).append(
            (row["ratio"], max(float(row["points_lost"]), 0.0), float(row.get(cost) or 0.0)))
    return levels


def greedy_allocation(rows: list[dict[str, Any]], *, cost: str, goal: float, max_ratio: float) -> dict[str, Any]:
    """Ratios per group root that save `goal` (in `cost` units: ms, MACs or params) by the predicted sums.

    `rows` are toolkit.prune.sensitivity.pruning_table rows. Each step moves one group to a higher ratio,
    the move with the fewest predicted points lost per unit saved; the last move is interpolated to land on
    the goal. Returns {ratios, predicted_saved, predicted_points_lost, reached, moves}.
    """
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, not {cost!r}")
    levels = _levels(rows, cost, max_ratio)
    at = {root: 0 for root in levels}
    saved = lost = 0.0
    ratios: dict[str, float] = {}
    moves: list[dict[str, Any]] = []
    while saved < goal:
        best = None
        for root, steps in levels.items():
            r0, lost0, saved0 = steps[at[root]]
            for target in range(at[root] + 1, len(steps)):
                r1, lost1, saved1 = steps[target]
                gain = saved1 - saved0
                if gain <= 0:
                    continue  # within the timing noise or nothing to gain: never worth accuracy
                score = (max(lost1 - lost0, 0.0) / gain, -gain)
                if best is None or score < best[0]:
                    best = (score, root, target, r0, r1, lost1 - lost0, gain)
        if best is None:
            break
        _, root, target, r0, r1, d_lost, gain = best
        fraction = min(1.0, (goal - saved) / gain)
        ratios[root] = round(r0 + fraction * (r1 - r0), 5)
        saved += fraction * gain
        lost += fraction * max(d_lost, 0.0)
        at[root] = target
        moves.append({"root": root, "ratio": ratios[root], "points_per_unit": best[0][0],
                      "saved_after": round(saved, 6)})
        if fraction < 1.0:
            break
    return {"ratios": ratios, "predicted_saved": saved, "predicted_points_lost": round(lost, 4),
            "reached": saved >= goal * (1 - 1e-9), "moves": moves}


def allocate(rows: list[dict[str, Any]], *, cost: str, goal: float, accept: tuple[float, float], max_ratio: float,
             achieved_saved: Callable[[dict[str, float]], float], rounds: int = 6,
             log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Greedy allocation for `goal`, checked on the whole model and corrected until it lands in `accept`.

    `achieved_saved(ratios)` prunes a copy by the ratios and returns the cost saved, measured or counted;
    `accept` is the (low, high) band of acceptable savings. Returns the chosen iteration (the first in the
    band, else the closest one that reaches `accept[0]`, else the one that saved most) with every iteration.
    """
    ask = goal
    tried: list[dict[str, Any]] = []
    for number in range(1, rounds + 1):
        plan = greedy_allocation(rows, cost=cost, goal=ask, max_ratio=max_ratio)
        achieved = achieved_saved(plan["ratios"])
        record = {**plan, "asked": ask, "achieved_saved": achieved,
                  "in_band": accept[0] <= achieved <= accept[1]}
        tried.append(record)
        log(f"allocation round {number}: asked {ask:.6g}, predicted {plan['predicted_saved']:.6g}, achieved "
            f"{achieved:.6g} (goal {goal:.6g}; {len(plan['ratios'])} group(s) pruned)")
        if record["in_band"]:
            break
        if achieved < accept[0] and not plan["reached"]:
            break  # every group is at max_layer_ratio already
        # Groups interact (pruning both sides of a layer saves less than the sum): rescale what is asked.
        factor = goal / achieved if achieved > 0 else 2.0
        ask = min(max(ask * factor, ask * 0.5), ask * 2.0)
    reaching = [t for t in tried if t["achieved_saved"] >= accept[0]]
    chosen = next((t for t in tried if t["in_band"]), None) or \
        min(reaching, key=lambda t: t["achieved_saved"], default=None) or max(tried, key=lambda t: t["achieved_saved"])
    return {**chosen, "iterations": [{k: t[k] for k in ("asked", "predicted_saved", "achieved_saved", "in_band")}
                                     for t in tried]}
