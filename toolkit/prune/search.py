"""Find the pruning ratio that reaches a measured target (MACs speedup, parameter share) within a tolerance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolkit.errors import ToolkitError


def search_ratio(achieved_at: Callable[[float], float], target: float, *, high: float, tolerance: float = 0.05,
                 step: float = 0.05, max_trials: int = 30) -> tuple[float, float, list[dict[str, Any]]]:
    """Scan the ratio upwards in `step`s, then bisect the bracket that crosses `target`.

    `achieved_at(ratio)` grows with the ratio only roughly: channel rounding makes it a staircase, and near
    the top a layer that would round to zero channels is left whole, so it can fall again. Hence a scan from
    below rather than a bisection over the whole range. Returns (ratio, achieved, trials); the closest trial
    when rounding makes the tolerance unreachable.
    """
    trials: list[dict[str, Any]] = []
    best: tuple[float, float] | None = None

    def probe(ratio: float) -> float:
        nonlocal best
        value = achieved_at(ratio)
        trials.append({"ratio": round(ratio, 5), "achieved": round(value, 5)})
        if best is None or abs(value / target - 1) < abs(best[1] / target - 1):
            best = (ratio, value)
        return value

    low, bracket_high, ratio = 0.0, None, step
    while ratio <= high + 1e-9 and len(trials) < max_trials:
        value = probe(ratio)
        if abs(value / target - 1) <= tolerance:
            return ratio, value, trials
        if value > target:
            bracket_high = ratio
            break
        low, ratio = ratio, ratio + step
    if bracket_high is None:
        top = max(trials, key=lambda t: t["achieved"])
        raise ToolkitError(f"the target {target:g} cannot be reached: the most any ratio up to {high:.0%} gives is "
                           f"{top['achieved']:.3g} (at {top['ratio']:.0%}); raise max_layer_ratio, lower round_to, "
                           f"use global pruning, or lower the target")
    while len(trials) < max_trials and bracket_high - low > 1e-3:
        mid = (low + bracket_high) / 2
        value = probe(mid)
        if abs(value / target - 1) <= tolerance:
            return mid, value, trials
        if value < target:
            low = mid
        else:
            bracket_high = mid
    return best[0], best[1], trials
