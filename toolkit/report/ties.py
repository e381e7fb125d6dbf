"""When is one latency really lower than another? Only when their 95% intervals do not overlap.

Works on anything with `latency_ms`, `interval` (low, high ms), `runtime`, `graph`, `top1` and `order`
(the report's `Point`).
"""

from __future__ import annotations

from typing import Any

TIE_RULE = ("latencies whose 95% intervals overlap (or identical graphs on one runtime) are a tie; "
            "a tie goes to the more accurate model, then to the earlier (less compressed) stage")


def tied(p: Any, q: Any) -> bool:
    """Same speed within the measurement error: identical graph on one runtime, or overlapping intervals."""
    if p.graph and p.graph == q.graph and p.runtime == q.runtime:
        return True
    p_low, p_high = p.interval
    q_low, q_high = q.interval
    return p_low <= q_high and q_low <= p_high


def faster(p: Any, q: Any) -> bool:
    """p is faster than q beyond the measurement error."""
    return (not tied(p, q)) and p.latency_ms < q.latency_ms


def dominates(p: Any, q: Any) -> bool:
    """p is at least as accurate and not slower than q, and better in one of them (ties respected)."""
    if p.top1 < q.top1 or faster(q, p):
        return False
    return p.top1 > q.top1 or faster(p, q)


def preferred(ties: list[Any]) -> Any:
    """The pick among tied points: the most accurate, then the earliest stage, then the lower median."""
    return min(ties, key=lambda p: (-p.top1, p.order, p.latency_ms))


def ratio_interval(slow: Any, fast: Any) -> list[float]:
    """[low, high] of slow/fast latency from the two intervals (the extremes; conservative)."""
    s_low, s_high = slow.interval
    f_low, f_high = fast.interval
    return [round(s_low / max(f_high, 1e-12), 3), round(s_high / max(f_low, 1e-12), 3)]
