"""What the report concludes: Pareto frontiers and the recommended model per device and batch size.

Latencies are compared with their error: two points whose 95% intervals overlap, or that run the same graph
on the same runtime, are a tie (see `toolkit.report.ties`), and a tie is never called a speedup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.quantize.speed_flags import int8_slower_shown
from toolkit.records import OK
from toolkit.report.collect import RunView, StageView
from toolkit.report.explain import explain
from toolkit.report.ties import TIE_RULE, dominates, faster, preferred, ratio_interval, tied


@dataclass(frozen=True)
class Point:
    """One stage measured on one runtime at one batch size."""

    stage: str
    runtime: str
    batch_size: int
    latency_ms: float
    top1: float
    device: str
    ci_low_ms: float | None = None  # 95% interval of latency_ms; None for records measured before intervals
    ci_high_ms: float | None = None
    graph: str | None = None  # the graph fingerprint: equal fingerprints on one runtime are equally fast
    unstable: bool = False
    order: int = 0  # the stage's index: a lower one is less compressed, preferred in a tie
    peer: bool = False  # made by another tool (peers.json), not by a stage of this run
    session: str | None = None  # the timing session (toolkit.measure.device.timing_session); None: unknown
    interleaved: bool = False  # timed in interleaved rounds with the other stages of its session

    @property
    def interval(self) -> tuple[float, float]:
        """(low, high) latency in ms; just the p50 where no interval was recorded."""
        low = self.ci_low_ms if self.ci_low_ms is not None else self.latency_ms
        high = self.ci_high_ms if self.ci_high_ms is not None else self.latency_ms
        return min(low, self.latency_ms), max(high, self.latency_ms)


def pareto_front(points: list[Point]) -> list[Point]:
    """Points no other point beats on both latency and top-1, by rising latency.

    A latency difference inside the intervals is a tie: a point is dominated only by one at least as accurate
    and either clearly faster, or tied on latency and more accurate. Points tied on both all stay.
    """
    front = [q for q in points if not any(dominates(p, q) for p in points if p is not q)]
    return sorted(front, key=lambda q: (q.latency_ms, -q.top1, q.order))


def points(run: RunView) -> list[Point]:
    """Every measured (stage, runtime, batch, device) with both latency and accuracy."""
    out = []
    for stage in run.stages:
        if stage.status != OK or stage.top1 is None:
            continue
        for slug, _, rec in stage.latency_records():
            if rec.get("status") == OK and rec.get("p50_ms"):
                top1 = stage.top1
                out.append(Point(stage.label, rec["runtime"], int(rec["batch_size"]), float(rec["p50_ms"]), top1,
                                 slug, rec.get("ci_low_ms"), rec.get("ci_high_ms"), rec.get("graph_hash"),
                                 bool(rec.get("unstable")), stage.index,
                                 session=rec.get("session") if isinstance(rec.get("session"), str) else None,
                                 interleaved=rec.get("interleaved") is True))
    return out


PEER_ORDER = 10_000  # in a tie, a stage of the run goes before any peer
ANY_DEVICE = "*"


def peer_points(run: RunView) -> list[Point]:
    """The run folder's peers (peers.json) as points; a peer without a device joins every device of the run."""
    from toolkit.measure.device import device_slug

    out = []
    for peer in run.peers[0]:
        device = device_slug(peer["device"]) if peer.get("device") else ANY_DEVICE  # checked by read_peers
        for rec in peer["latency"]:
            low, high = rec.get("ci_low_ms"), rec.get("ci_high_ms")
            out.append(Point(peer["name"], rec["runtime"], rec["batch_size"], float(rec["p50_ms"]),
                             float(peer["top1"]), device, None if low is None else float(low),
                             None if high is None else float(high), None, False, PEER_ORDER, True))
    return out


def _undominated(pick: Point, group: list[Point]) -> Point:
    """`pick`, or, where something in `group` dominates it (a latency tie with a more accurate point that the
    tie rule did not see), the point that nothing in `group` dominates, reached by following dominators."""
    for _ in range(len(group)):
        dominators = [q for q in group if q is not pick and dominates(q, pick)]
        if not dominators:
            return pick
        pick = preferred(dominators)
    return pick


def _fastest_within(candidates: list[Point], allowed: float) -> tuple[Point, bool, list[Point]]:
    """(pick, within budget, the points tied with the fastest): the fastest candidate at or above `allowed` top-1
    (all of them when none is), ties going to the preferred one (`ties.preferred`), then walked up to a point
    nothing among them dominates."""
    within = [p for p in candidates if p.top1 >= allowed - 1e-12]
    pool = within or candidates
    fastest = min(pool, key=lambda p: p.latency_ms)
    ties = [p for p in pool if tied(p, fastest)]
    return _undominated(preferred(ties), pool), bool(within), ties


def _describe(p: Point) -> str:
    return f"{p.stage} on {p.runtime} ({p.top1 * 100:.2f}% top-1, {p.latency_ms:.3f} ms)"


def _why(pick: Point, own_best: Point | None, within: bool, budget: float, device: str, bs: int) -> str:
    """One sentence: why this is the recommendation, and what dominated the run's own best where a peer won."""
    rule = (f"the fastest model within {budget:g} top-1 point(s) of the baseline" if within else
            "nothing met the accuracy budget, so the fastest model") + f" on {device} at batch {bs}"
    if pick.peer:
        head = f"{pick.stage} (a peer, not made by this run) is {rule}: {_describe(pick)}"
        if own_best is not None and dominates(pick, own_best):
            return (f"{head}; it dominates this run's best there, {_describe(own_best)} (at least as accurate and "
                    f"faster beyond noise)")
        return head + (f"; this run's best there, {_describe(own_best)}, is slower" if own_best is not None else "")
    return f"{rule}; no other stage or peer measured there is at least as accurate and faster beyond noise"


def _timed_apart(pick: Point, base: Point | None) -> bool | None:
    """Whether the pick and the baseline on its runtime were timed in different sessions (None: unknown)."""
    if base is None or pick is base or pick.peer:
        return None
    if pick.session is None or base.session is None:
        return None
    return pick.session != base.session


def _size(stage: StageView) -> int | None:
    return (stage.metrics.get("model") or {}).get("size_bytes")


def _as_record(p: Point) -> dict[str, Any]:
    return {"runtime": p.runtime, "batch_size": p.batch_size, "status": OK, "session": p.session,
            "interleaved": p.interleaved, "unstable": p.unstable, "ci_low_ms": p.ci_low_ms, "ci_high_ms": p.ci_high_ms}


def _int8_slower_shown(p: Point, group: list[Point], extra: dict[str, Any] | None) -> bool:
    """Is `p` an INT8 stage slower than its fp32 source (the nearest earlier stage measured there) by the shown
    latencies where they were timed together, else by the stage's own check (speed_flags.int8_slower_shown)."""
    earlier = [q for q in group if q.order < p.order and q.runtime == p.runtime and not q.peer]
    source = [_as_record(max(earlier, key=lambda q: q.order))] if earlier else []  # the nearest measured one
    return (p.runtime, p.batch_size) in int8_slower_shown(extra, [_as_record(p)], source)


def recommend(run: RunView, max_drop_points: float) -> list[dict[str, Any]]:
    """Per device and batch size: the fastest model within the accuracy budget, compared with the baseline.

    Candidates are the run's measured stages and its peers (peers.json). The pick is never dominated by another
    candidate (at least as accurate and faster beyond noise); where it is a peer, `best_of_run` names the run's
    own best by the same rule, and `why` says whether the peer dominates it or is only faster."""
    base = run.baseline()
    if base is None:
        return []
    by_label = {s.label: s for s in run.stages}
    allowed = base.top1 - max_drop_points / 100.0
    groups: dict[tuple[str, int], list[Point]] = {}
    for p in points(run):
        groups.setdefault((p.device, p.batch_size), []).append(p)
    peers = peer_points(run)
    out = []
    for (device, bs), own in sorted(groups.items()):
        # An INT8 model the quantize stage measured slower than its fp32 source there is never the pick.
        slower = [p for p in own if _int8_slower_shown(p, own, by_label[p.stage].metrics.get("extra"))]
        own = [p for p in own if p not in slower] or own
        group = own + [q for q in peers if q.batch_size == bs and q.device in (device, ANY_DEVICE)]
        pick, within, ties = _fastest_within(group, allowed)
        own_best = _fastest_within(own, allowed)[0]
        base_same = next((p for p in group if p.stage == base.label and p.runtime == pick.runtime), None)
        base_best = min((p for p in group if p.stage == base.label), key=lambda p: p.latency_ms, default=None)
        stage = by_label.get(pick.stage) if not pick.peer else None
        size, base_size = (_size(stage) if stage else None), _size(base)
        out.append({
            "device": device, "batch_size": bs, "stage": pick.stage, "runtime": pick.runtime, "baseline": base.label,
            "within_budget": within, "top1": pick.top1, "baseline_top1": base.top1,
            "top1_change_points": round((pick.top1 - base.top1) * 100, 3), "latency_ms": pick.latency_ms,
            "latency_ci_ms": [round(v, 4) for v in pick.interval], "unstable": pick.unstable,
            "tied_with": [f"{p.stage} on {p.runtime}" for p in ties if p is not pick],
            "tie_rule": TIE_RULE if len(ties) > 1 else None,
            "speedup_same_runtime": round(base_same.latency_ms / pick.latency_ms, 3) if base_same else None,
            "speedup_same_runtime_ci": ratio_interval(base_same, pick) if base_same else None,
            "speedup_same_runtime_significant": faster(pick, base_same) if base_same else None,
            "timed_apart": _timed_apart(pick, base_same),
            "speedup_vs_baseline_best": round(base_best.latency_ms / pick.latency_ms, 3) if base_best else None,
            "speedup_vs_baseline_best_significant": faster(pick, base_best) if base_best else None,
            "baseline_best_runtime": base_best.runtime if base_best else None,
            "size_reduction": round(base_size / size, 3) if size and base_size else None,
            "max_accuracy_drop": max_drop_points,
            "int8_slower_excluded": sorted({f"{p.stage} on {p.runtime}" for p in slower}),
            "int8_slower_here": sorted({p.stage for p in slower if p.runtime == pick.runtime}),
            "peer": pick.peer, "peers_compared": sorted({q.stage for q in group if q.peer}),
            "best_of_run": None if not pick.peer else {"stage": own_best.stage, "runtime": own_best.runtime,
                                                       "top1": own_best.top1, "latency_ms": own_best.latency_ms},
            "why": _why(pick, own_best, within, max_drop_points, device, bs),
            "explanation": explain(pick, group, [p for p in group if p.stage == base.label], ties, within,
                                   allowed, max_drop_points, slower, _timed_apart(pick, base_same)),
        })
    return out
