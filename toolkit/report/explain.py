"""Why the report recommends what it does, in one sentence built from the facts that chose it.

The sentence names the models within the accuracy budget, those faster than the baseline beyond noise
(within the budget or over it), the ones tied with the pick, and the rule that made the pick win, so a
reader can check every word against the table (issue: "every faster model lost more" beside a model
that was tied within noise and inside the budget).
"""

from __future__ import annotations

from typing import Any

from toolkit.report.ties import faster


def _name(p: Any) -> str:
    return f"{p.stage} on {p.runtime}"


def _names(points: list[Any], limit: int = 6) -> str:
    names = sorted(dict.fromkeys(_name(p) for p in points))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _change(p: Any, base_top1: float) -> str:
    return f"{(p.top1 - base_top1) * 100:+.2f} points"


def _baseline_for(p: Any, baselines: list[Any]) -> Any | None:
    """The baseline measured on `p`'s runtime (a speedup compares one runtime with itself)."""
    return next((b for b in baselines if b.runtime == p.runtime), None)


def explain(pick: Any, group: list[Any], baselines: list[Any], ties: list[Any], within: bool, allowed: float,
            budget: float, slower: list[Any], timed_apart: bool | None = None) -> str:
    """The recommendation's reason for one device and batch size.

    `group`: every candidate point there (stages and peers); `baselines`: the baseline stage's points;
    `ties`: the points tied with the fastest in the pool the pick came from; `within`: whether any model
    met the budget (`allowed`: the lowest top-1 that does, a fraction; `budget`: points); `slower`: INT8
    points left out because the quantize stage measured them slower than fp32 on their runtime;
    `timed_apart`: the pick and the baseline were timed in different sessions (other moments, other load).
    """
    base_top1 = baselines[0].top1 if baselines else pick.top1
    base_label = baselines[0].stage if baselines else None
    others = [p for p in group if p.stage != base_label]
    beats = [p for p in others if (b := _baseline_for(p, baselines)) is not None and faster(p, b)]
    in_budget = [p for p in beats if p.top1 >= allowed - 1e-12]
    over_budget = [p for p in beats if p.top1 < allowed - 1e-12]
    tied = [p for p in ties if p is not pick]
    tie_rule = "a tie (95% intervals that overlap) goes to the more accurate model, then the earlier stage"
    if not within:
        parts = [f"no model stayed within {budget:g} top-1 point(s) of the baseline, so the fastest one, "
                 f"{_name(pick)}, is shown ({_change(pick, base_top1)})"]
    elif pick.stage == base_label:
        parts = [f"the baseline, {_name(pick)}, stays: no model within the {budget:g}-point budget ran faster "
                 f"than the baseline on its own runtime beyond noise"]
        # faster than the baseline on their own runtime, yet not picked: not tied with the pick, so slower than it
        # (the pick is the fastest in the budget; the tied ones are named with the tie rule below)
        beaten = [p for p in in_budget if p not in tied]
        if beaten:
            parts[0] = (f"the baseline, {_name(pick)}, stays: {_names(beaten)} ran faster than the baseline on "
                        f"their own runtime but slower than this pick beyond noise")
        elif in_budget:
            parts[0] = f"the baseline, {_name(pick)}, stays"
    else:
        parts = [f"{_name(pick)} is the fastest model within the {budget:g}-point budget "
                 f"({_change(pick, base_top1)})"]
    if tied:
        parts.append(f"tied within noise with {_names(tied)}; {tie_rule}")
    named = in_budget if pick.stage == base_label else []  # the first sentence or the tie already names these
    within_names = [p for p in group if p.top1 >= allowed - 1e-12 and p is not pick and p not in tied
                    and p not in named]
    if within and within_names:
        parts.append(f"also within the budget: {_names(within_names)}")
    if over_budget:
        parts.append("faster than the baseline beyond noise but over the budget: "
                     + ", ".join(f"{_name(p)} ({_change(p, base_top1)})" for p in
                                 sorted(over_budget, key=lambda q: q.latency_ms)[:6]))
    if slower:
        parts.append(f"left out: {_names(slower)} (its INT8 model was measured slower than fp32 on that runtime)")
    if timed_apart:
        parts.append("the pick and the baseline were timed in different sessions (another process or time), "
                     "so their speedup compares two moments as well as two models: `compress bench RUN_DIR` "
                     "times them together")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."
