"""Find the pruning ratio that reaches a measured target (MACs speedup, parameter share) within a tolerance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolkit.errors import ToolkitError


def search_ratio(achieved_at: Callable[[float], float], target: float, *, high: float, tolerance: float = 0.05,
                 max_trials: int = 14) -> tuple[float, float, list[dict[str, Any]]]:
    """Bisect the ratio in (0, high] so that achieved_at(ratio) is within `tolerance` (relative) of `target`.

    `achieved_at` must grow with the ratio (more pruning -> more speedup). Returns (ratio, achieved, trials);
    the closest trial is returned when rounding makes the tolerance unreachable.
    """
    trials: list[dict[str, Any]] = []

    def probe(ratio: float) -> float:
        value = achieved_at(ratio)
        trials.append({"ratio": round(ratio, 5), "achieved": round(value, 5)})
        return value

    top = probe(high)
    if top < target * (1 - tolerance):
        raise ToolkitError(f"the target {target:g} cannot be reached: pruning {high:.0%} of the channels gives "
                           f"{top:.3g}; raise max_layer_ratio, use global pruning, or lower the target")
    low, high_ratio = 0.0, high
    best = (high, top)
    for _ in range(max_trials - 1):
        if abs(best[1] / target - 1) <= tolerance:
            break
        mid = (low + high_ratio) / 2
        value = probe(mid)
        if abs(value / target - 1) < abs(best[1] / target - 1):
            best = (mid, value)
        if value < target:
            low = mid
        else:
            high_ratio = mid
        if high_ratio - low < 1e-3:
            break
    return best[0], best[1], trials
