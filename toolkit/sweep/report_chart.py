"""The sweep report's chart: top-1 against p50 latency for every complete trial on one device, runtime and batch
size, the study's Pareto set filled and the recommended trial starred, peers as crosses with their names. Drawn
by matplotlib's object API (no pyplot state) as an inline SVG data URI, like the run report's charts."""

from __future__ import annotations

from toolkit.report.chart_text import plain_text
from toolkit.report.plots import new_figure, svg_data_uri
from toolkit.report.readability import accuracy_limits, legend_outside, place_labels, tidy_log_axis
from toolkit.sweep.report_data import SweepPoint


@plain_text
def trials_chart(points: list[SweepPoint], pareto: set[int], recommended: int | None,
                 title: str) -> str:
    """One panel: `points` are the trials (and peers, `trial` None) measured on one device, runtime and batch;
    `pareto` the trial numbers of the study's Pareto set; returns an SVG data URI."""
    fig = new_figure(6.4, 4.4)
    ax = fig.subplots()
    labels, obstacles = [], []
    for p in points:
        x, y = p.p50_ms, p.top1 * 100
        if p.trial is None:
            ax.scatter(x, y, marker="X", s=60, color="black", zorder=4, label="peer (peers.json)")
            labels.append((x, y, p.label, "black"))
        else:
            on_front = p.trial in pareto
            color = "C3" if p.trial == recommended else "C0" if on_front else "0.55"
            kind = "recommended" if p.trial == recommended else "Pareto set" if on_front else "other trials"
            ax.scatter(x, y, marker="*" if p.trial == recommended else "o", s=150 if p.trial == recommended else 40,
                       facecolors="none" if p.unstable else color, edgecolors=color, zorder=3, label=kind)
            labels.append((x, y, f"#{p.trial}" + (" (unstable)" if p.unstable else ""), color))
        obstacles.append((x, y, 5.0))
    ax.set_ylim(*accuracy_limits([p.top1 * 100 for p in points]))
    ax.set_xscale("log")
    ax.margins(x=0.12)  # room for the labels of the fastest and slowest trials
    ax.set_xlabel("p50 latency (ms, log scale)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    tidy_log_axis(ax.xaxis)
    legend_outside(fig, [ax])
    place_labels(ax, labels, obstacles=obstacles)
    return svg_data_uri(fig)
