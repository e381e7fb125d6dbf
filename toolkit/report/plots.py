"""Charts for the report, drawn by matplotlib (object API, no pyplot state) as inline SVG data URIs."""

from __future__ import annotations

import base64
import io
from typing import Any

from toolkit.report.analysis import Point, pareto_front
from toolkit.report.chart_text import plain_text
from toolkit.report.readability import accuracy_limits, draw_frontier, legend_outside, place_labels, tidy_log_axis

MARKERS = "osD^v<>pPhX*"


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure (object API: no pyplot state) with constrained layout; size in inches."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def svg_data_uri(fig: Any) -> str:
    """The figure as an inline `data:image/svg+xml;base64,...` URI (no date inside: same data, same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})  # no date: the same run gives the same bytes
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@plain_text
def accuracy_vs_latency(series: dict[str, list[Point]], device: str) -> str:
    """One panel per batch size: top-1 against p50 latency (95% interval as error bars), a colour per runtime,
    the Pareto frontier drawn.

    `series` maps a run name to its points on this device (several runs: a marker per run); a run's peers
    (peers.json) come as one more series, labelled with their full names.
    """
    batches = sorted({p.batch_size for pts in series.values() for p in pts})
    fig = new_figure(5.2 * max(1, len(batches)), 4.2)
    axes = fig.subplots(1, max(1, len(batches)), squeeze=False)[0]
    runtimes = sorted({p.runtime for pts in series.values() for p in pts})
    colors = {r: f"C{i % 10}" for i, r in enumerate(runtimes)}
    placements = []
    for ax, bs in zip(axes, batches):
        everything, point_labels = [], []
        for k, (run_name, pts) in enumerate(series.items()):
            mine = [p for p in pts if p.batch_size == bs]
            everything += mine
            for p in mine:
                low, high = p.interval  # the 95% interval as a horizontal error bar (none for old records)
                if high > low:
                    ax.errorbar(p.latency_ms, p.top1 * 100, xerr=[[p.latency_ms - low], [high - p.latency_ms]],
                                fmt="none", ecolor=colors[p.runtime], elinewidth=1, capsize=2, zorder=2)
                # an unstable timing is drawn hollow and labelled so: visible, never passed off as stable
                ax.scatter(p.latency_ms, p.top1 * 100, marker=MARKERS[k % len(MARKERS)], s=36, zorder=3,
                           facecolors="none" if p.unstable else colors[p.runtime], edgecolors=colors[p.runtime],
                           label=f"{p.runtime}" + (f" ({run_name})" if len(series) > 1 else ""))
                name = p.stage if p.peer else p.stage.split("-", 1)[-1]
                point_labels.append((p.latency_ms, p.top1 * 100, name + (" (unstable)" if p.unstable else ""),
                                     colors[p.runtime]))
        front = pareto_front(everything)
        draw_frontier(ax, front)
        placements.append((point_labels, [(p.latency_ms, p.top1 * 100, 4.0) for p in everything]
                           + [(p.latency_ms, p.top1 * 100, 7.5) for p in front]))
        ax.set_ylim(*accuracy_limits([p.top1 * 100 for p in everything]))
        ax.set_xscale("log")
        ax.set_xlabel("p50 latency (ms, log scale)")
        ax.set_ylabel("top-1 (%)")
        ax.set_title(f"{device}, batch {bs}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        tidy_log_axis(ax.xaxis)
    legend_outside(fig, list(axes))  # before the labels: it changes the layout they are placed in
    for ax, (point_labels, obstacles) in zip(axes, placements):
        place_labels(ax, point_labels, obstacles=obstacles)
    return svg_data_uri(fig)


@plain_text
def channel_bars(channels: dict[str, list[int | None]], title: str) -> str:
    """Per-layer output channels before and after pruning (horizontal bars)."""
    names = list(channels)[:80]
    before = [channels[n][0] or 0 for n in names]
    after = [channels[n][1] or 0 for n in names]
    fig = new_figure(7.5, max(2.5, 0.16 * len(names) + 1))
    ax = fig.subplots()
    y = range(len(names))
    ax.barh(list(y), before, color="0.8", label="before")
    ax.barh(list(y), after, color="C0", label="after")
    ax.set_yticks(list(y), names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("output channels")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return svg_data_uri(fig)


@plain_text
def macs_vs_latency(rows: list[dict[str, Any]], device: str, batch_size: int) -> str:
    """MACs against measured p50 latency per runtime on one device at one batch size: is the proxy honest?

    `rows`: {stage, runtime, macs, latency_ms, unstable, ci_low_ms, ci_high_ms}. An unstable timing is
    drawn hollow with its 95% interval and labelled "(unstable)", never as if it were a clean point."""
    fig = new_figure(6, 4)
    ax = fig.subplots()
    point_labels: list[tuple[float, float, str, str]] = []
    for i, runtime in enumerate(sorted({r["runtime"] for r in rows})):
        mine = sorted((r for r in rows if r["runtime"] == runtime), key=lambda r: r["macs"])
        xs, ys = [r["macs"] / 1e6 for r in mine], [r["latency_ms"] for r in mine]
        ax.plot(xs, ys, color=f"C{i}", label=runtime)
        for x, r in zip(xs, mine):
            low, high = r.get("ci_low_ms"), r.get("ci_high_ms")
            if isinstance(low, float) and isinstance(high, float) and low <= r["latency_ms"] <= high:
                ax.errorbar(x, r["latency_ms"], yerr=[[r["latency_ms"] - low], [high - r["latency_ms"]]],
                            fmt="none", ecolor=f"C{i}", elinewidth=1, capsize=2)
            ax.scatter(x, r["latency_ms"], color=f"C{i}", zorder=3, s=30,
                       facecolors="none" if r.get("unstable") else f"C{i}")
        point_labels += [(r["macs"] / 1e6, r["latency_ms"], r["stage"].split("-", 1)[-1]
                          + (" (unstable)" if r.get("unstable") else ""), f"C{i}") for r in mine]
    ax.set_xlabel("MMACs per image")
    ax.set_ylabel("p50 latency (ms, log scale)")
    ax.set_yscale("log")
    ax.set_title(f"{device}, batch {batch_size}", fontsize=9)
    ax.grid(True, alpha=0.3)
    tidy_log_axis(ax.yaxis)  # 0.05, not 5x10^-2
    legend_outside(fig, [ax])
    # coinciding points (a stage that left the graph as it was) share one label: "prune = distill"
    place_labels(ax, point_labels, obstacles=[(x, y, 4.0) for x, y, _, _ in point_labels])
    return svg_data_uri(fig)


@plain_text
def training_curves(histories: dict[str, list[dict[str, Any]]],
                    loss_kinds: dict[str, str] | None = None) -> str:
    """Loss and validation top-1 per epoch for each training stage; losses of different kinds
    (cross-entropy, distillation) on separate axes, since their scales are not comparable."""
    kinds = list(dict.fromkeys((loss_kinds or {}).get(label, "train loss") for label in histories))
    fig = new_figure(5 * (len(kinds) + 1), 3.6)
    *loss_axes, acc_ax = fig.subplots(1, len(kinds) + 1)
    for i, (label, history) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in history]
        loss_ax = loss_axes[kinds.index((loss_kinds or {}).get(label, "train loss"))]
        loss_ax.plot(epochs, [h["loss"] for h in history], marker=".", color=f"C{i}", label=label)
        val = [(h["epoch"], h["val_top1"] * 100) for h in history if h.get("val_top1") is not None]
        if val:
            acc_ax.plot(*zip(*val), marker=".", color=f"C{i}", label=label)
    for kind, loss_ax in zip(kinds, loss_axes):
        loss_ax.set(xlabel="epoch", ylabel=kind)
    acc_ax.set(xlabel="epoch", ylabel="validation top-1 (%)")
    for ax in (*loss_axes, acc_ax):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return svg_data_uri(fig)
