"""Making the report's charts and conclusions read right: axis ranges, labels, frontier, plain reasons.

Helpers only; plots.py and build.py call them. Nothing here changes what is recommended.
"""

from __future__ import annotations

from typing import Any

from toolkit.report.analysis import Point

MIN_ACCURACY_SPAN = 2.0  # top-1 points: a 0.5-point spread must not fill the whole axis


def accuracy_limits(values_pct: list[float], min_span: float = MIN_ACCURACY_SPAN
                    ) -> tuple[float, float]:
    """y limits (top-1 %) spanning at least `min_span` points around the values, with a margin."""
    if not values_pct:
        return 0.0, 100.0
    low, high = min(values_pct), max(values_pct)
    span = max(high - low, min_span)
    middle = (low + high) / 2
    low, high = middle - span / 2, middle + span / 2
    margin = 0.15 * span
    low, high = low - margin, high + margin
    if high > 100.0:
        low, high = low - (high - 100.0), 100.0 + margin / 2
    return max(low, 0.0), high


def images_of(points_change: float, samples: int | None) -> str:
    """'2 of 360 validation images' for a top-1 change in points; '' when the count is unknown."""
    if not samples:
        return ""
    count = round(abs(points_change) / 100.0 * samples)
    return f"{count} of {samples} validation images"


def place_labels(ax: Any, labels: list[tuple[float, float, str, str]], fontsize: float = 7.0,
                 obstacles: list[tuple[float, float, float]] = ()) -> None:
    """Annotate points without overlapping labels: the same text at the same spot is written once, and
    each label takes the first free position around its point (a leader line when moved further away),
    avoiding other labels and `obstacles` ((x, y, radius in points): markers, frontier rings).
    `labels` are (x, y, text, colour): a label takes its point's colour, so that it reads as its point's."""
    fig = ax.figure
    fig.draw_without_rendering()  # final layout, so that display coordinates are the drawn ones
    scale = fig.dpi / 72.0
    height, char = fontsize * scale * 1.25, fontsize * scale * 0.62
    candidates = [(5, 3), (5, -11), (-5, 3), (-5, -11), (9, 4), (9, -12), (-9, 4), (-9, -12), (6, 13),
                  (6, -21), (-6, 13), (-6, -21), (12, 22), (12, -30), (-12, 22), (-12, -30), (16, 32), (-16, -40)]
    blocked: list[tuple[float, float, float, float, float, float]] = []  # box, then the centre it surrounds
    for x, y, radius in obstacles:
        ox, oy = ax.transData.transform((x, y))
        r = radius * scale
        blocked.append((ox - r, oy - r, ox + r, oy + r, ox, oy))
    placed: list[tuple[float, float, float, float]] = []
    frame = ax.get_window_extent()
    for x, y, text, color in merge_coinciding(ax, labels):
        px, py = ax.transData.transform((x, y))
        width = char * len(text)
        choice = None
        for dx, dy in candidates:
            left = px + dx * scale if dx > 0 else px + dx * scale - width
            box = (left, py + dy * scale, left + width, py + dy * scale + height)
            inside = frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] and box[3] <= frame.y1
            # the point's own marker is not in the way; its frontier ring is
            others = [b[:4] for b in blocked
                      if not (abs(b[4] - px) < 1 and abs(b[5] - py) < 1 and b[2] - b[0] < 6 * scale)]
            if inside and not any(_overlap(box, other) for other in placed + others):
                choice = (dx, dy, box)
                break
        if choice is None:
            dx, dy = candidates[0]
            left = px + dx * scale
            choice = (dx, dy, (left, py + dy * scale, left + width, py + dy * scale + height))
        dx, dy, box = choice
        placed.append(box)
        far = abs(dy) > 12
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize, color=color,
                    ha="left" if dx > 0 else "right",
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5} if far else None)


def merge_coinciding(ax: Any, labels: list[tuple[float, float, str, str]], within_px: float = 6.0
                     ) -> list[tuple[float, float, str, str]]:
    """One label per spot: labels whose points lie within `within_px` display pixels of each other become
    one, their distinct texts joined by " = " ("prune = distill": the two stages gave the same model), so
    that texts drawn on top of each other never blend into one unreadable word. A merged label of points
    of different colours is drawn in dark grey. Texts keep the order given (pipeline order); the labels come
    back sorted left to right, top first (the placement order)."""
    groups: list[tuple[float, float, float, float, list[str], set[str]]] = []  # x, y, px, py, texts, colours
    for x, y, text, color in labels:
        px, py = ax.transData.transform((x, y))
        group = next((g for g in groups if abs(px - g[2]) < within_px and abs(py - g[3]) < within_px), None)
        if group is None:
            groups.append((x, y, px, py, [text], {color}))
            continue
        if text not in group[4]:
            group[4].append(text)
        group[5].add(color)
    merged = [(x, y, " = ".join(texts), next(iter(colours)) if len(colours) == 1 else "0.25")
              for x, y, _, _, texts, colours in groups]
    return sorted(merged, key=lambda item: (item[0], -item[1]))


def legend_outside(fig: Any, axes: list[Any], fontsize: float = 7.0) -> None:
    """One legend for the whole figure, below the panels, so that it can never hide a point or a label
    (a legend inside the axes, even at loc="best", is placed before the labels and can cover one)."""
    entries: dict[str, Any] = {}
    for ax in axes:
        handles, names = ax.get_legend_handles_labels()
        for handle, name in zip(handles, names):
            entries.setdefault(name, handle)
    fronts = [name for name in entries if name.startswith("Pareto frontier")]
    if len(fronts) > 1:  # panels with a frontier of one point and of several: one entry that explains both
        handle = entries[fronts[0]]
        entries = {name: h for name, h in entries.items() if name not in fronts}
        entries["Pareto frontier (a lone circle: that model beats all others)"] = handle
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center", fontsize=fontsize,
                   ncols=min(3, len(entries)), frameon=False)


def _overlap(a: tuple[float, ...], b: tuple[float, ...], pad: float = 1.5) -> bool:
    return a[0] - pad < b[2] and b[0] < a[2] + pad and a[1] - pad < b[3] and b[1] < a[3] + pad


def draw_frontier(ax: Any, front: list[Point]) -> None:
    """The Pareto frontier: a dashed step line through its points, each circled, so that a frontier of
    one point (a model faster and more accurate than every other) stays visible."""
    if not front:
        return
    xs, ys = [p.latency_ms for p in front], [p.top1 * 100 for p in front]
    label = "Pareto frontier" if len(front) > 1 else "Pareto frontier (one model beats all others)"
    if len(front) > 1:
        ax.step(xs, ys, where="post", color="0.3", linewidth=1, linestyle="--", zorder=2)
    ax.scatter(xs, ys, s=170, facecolors="none", edgecolors="0.25", linewidths=1.0, linestyle="--", zorder=2,
               label=label)


def loss_kind(stage_type: str, history_label: str, extra: dict[str, Any]) -> str:
    """What a history's `loss` is: the distillation loss (KD) or cross-entropy."""
    if history_label.endswith(" qat"):
        return "distillation loss" if (extra or {}).get("teacher") else "cross-entropy loss"
    return "distillation loss" if stage_type == "distill" else "cross-entropy loss"


def best_side_by_side(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For a comparison of runs: per (device, batch), each run's recommended model in one row."""
    keys = sorted({(r["device"], r["batch_size"]) for s in sections for r in s.get("recommendations") or []})
    rows = []
    for device, batch in keys:
        cells = []
        for section in sections:
            rec = next((r for r in section.get("recommendations") or []
                        if (r["device"], r["batch_size"]) == (device, batch)), None)
            cells.append(rec)
        rows.append({"device": device, "batch_size": batch, "cells": cells})
    return rows


def loss_kinds(stages: list[Any], histories: dict[str, Any]) -> dict[str, str]:
    """History label -> its loss kind, from the stage each history belongs to (StageView-like objects)."""
    out = {}
    for label in histories:
        stage = next((s for s in stages if label == s.label or label.startswith(s.label + " ")), None)
        if stage is not None:
            out[label] = loss_kind(stage.type, label, stage.metrics.get("extra") or {})
    return out


def readable_facts(run: Any, recommendations: list[dict[str, Any]]) -> dict[str, Any]:
    """What the summary says in words: how many validation images each recommended change is (the reason
    for each recommendation is its own `explanation`, toolkit.report.explain)."""
    base = run.baseline()
    samples = ((base.metrics.get("accuracy") or {}).get("samples") if base is not None else None) or None
    return {"val_samples": samples,
            "change_notes": [images_of(r.get("top1_change_points") or 0.0, samples)
                             if base is not None and r.get("stage") != base.label else "" for r in recommendations]}


def tidy_log_axis(axis: Any) -> None:
    """Plain tick labels on a log axis (0.05, 0.1, 0.2, 20): majors always, minors only at 2 and 5 and
    only when the axis spans at most two decades, so that labels never run into each other."""
    import math

    from matplotlib.ticker import FuncFormatter

    low, high = axis.get_view_interval()
    decades = math.log10(high / low) if low > 0 and high > low else 0.0

    def minor(value: float, _pos: Any) -> str:
        if value <= 0 or decades > 2:
            return ""
        mantissa = value / 10 ** math.floor(math.log10(value))
        return f"{value:g}" if round(mantissa) in (2, 5) else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))
