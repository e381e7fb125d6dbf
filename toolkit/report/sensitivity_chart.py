"""The sensitivity chart: per layer, accuracy lost against latency saved (pruning), and INT8 sensitivity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.fsutil import atomic_path
from toolkit.report.chart_text import plain_text

CHART_RATIO = 0.5  # the ratio each group is labelled at; the other ratios are drawn as its line


SYMLOG_ABOVE = 10.0  # points lost: past this, the y axis turns symlog so one fragile group does not squash the rest


def _pruning_panel(ax, result: dict[str, Any]) -> None:
    rows = result.get("pruning") or []
    base_ms = (result.get("runtime") or {}).get("base_ms")
    by_group: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_group.setdefault(row["root"], []).append(row)
    timed = any(r.get("latency_saved_ms") is not None for r in rows)
    for i, (root, mine) in enumerate(by_group.items()):
        mine = sorted(mine, key=lambda r: r["ratio"])
        xs = [(r["latency_saved_ms"] if timed else r["macs_share"] * 100) or 0.0 for r in mine]
        ys = [r["points_lost"] for r in mine]
        # 20 distinct colours and, past them, a second marker: a legend replaces per-point labels (they overlap)
        color, marker = f"C{i % 10}" if i < 10 else _TAB20[i % 20], "o" if i < 20 else "s"
        ax.plot(xs, ys, color=color, linewidth=0.8, alpha=0.6)
        ax.scatter(xs, ys, color=color, marker=marker, s=[10 + 30 * r["ratio"] for r in mine], zorder=3, label=root)
        if timed:  # the timing noise: median absolute deviation of the per-round savings
            ax.errorbar(xs, ys, xerr=[r.get("latency_spread_ms") or 0.0 for r in mine], fmt="none", ecolor=color,
                        elinewidth=0.6, alpha=0.6)
    ax.axhline(0, color="0.5", linewidth=0.6)
    ax.axvline(0, color="0.5", linewidth=0.6)
    runtime = result.get("runtime") or {}
    if timed:
        base = f" of {base_ms:.3f} ms" if base_ms else ""
        ax.set_xlabel(f"latency saved (ms{base}; bars: timing noise), {runtime.get('name')} batch "
                      f"{runtime.get('batch_size')}")
    else:
        ax.set_xlabel("MACs saved (%)  (latency not measured)")
    worst = max((abs(r["points_lost"]) for r in rows), default=0.0)
    if worst > SYMLOG_ABOVE:
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylabel("top-1 points lost (symlog: linear within +-1)")
    else:
        ax.set_ylabel("top-1 points lost (below 0: gained)")
    ratios = ", ".join(f"{r:g}" for r in result.get("ratios") or [])
    ax.set_title(f"Pruning one group alone (ratios {ratios}; bigger dot = more pruned)\n"
                 "cut: bottom right; keep whole: top left", fontsize=8)
    if by_group:
        ax.legend(fontsize=5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False,
                  ncol=1 if len(by_group) <= 30 else 2, title="group (root)", title_fontsize=6)
    ax.grid(True, alpha=0.3)


_TAB20 = [f"tab:{c}" for c in ("blue", "orange", "green", "red", "purple", "brown", "pink", "gray", "olive",
                                "cyan")] + ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
                                            "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]


def _int8_panel(ax, result: dict[str, Any]) -> None:
    layers = (result.get("int8") or {}).get("layers") or []
    layers = sorted(layers, key=lambda r: -(r.get("points_lost_alone") or 0.0))[:30]
    names = [r["node"] for r in layers]
    y = list(range(len(names)))
    lost = [r.get("points_lost_alone") or 0.0 for r in layers]
    recovered = [r.get("points_recovered_float") or 0.0 for r in layers]
    # points lost is the one sign everywhere; a layer that gained in INT8 (or lost when kept float) gets no bar,
    # only a marker at 0, so a long bar always means "wants float"
    ax.barh([v - 0.2 for v in y], [max(v, 0.0) for v in lost], height=0.4, color="C3",
            label="top-1 points lost with only this layer in INT8")
    ax.barh([v + 0.2 for v in y], [max(v, 0.0) for v in recovered], height=0.4, color="C2",
            label="top-1 points recovered with only this layer kept float")
    gains = [(v - 0.2, x) for v, x in zip(y, lost) if x < 0] + [(v + 0.2, x) for v, x in zip(y, recovered) if x < 0]
    if gains:
        ax.scatter([0.0] * len(gains), [g[0] for g in gains], marker="<", color="0.35", s=14, zorder=3, clip_on=False,
                   label="below 0 (a gain in INT8 / a loss in float): clipped to 0")
    ax.set_yticks(y, names, fontsize=6)
    ax.invert_yaxis()
    ax.axvline(0, color="0.5", linewidth=0.6)
    ax.set_xlim(left=0.0)
    ax.set_xlabel("top-1 points")
    ax.set_title("INT8 sensitivity per layer (keep in float: long bars)", fontsize=8)
    ax.legend(fontsize=6, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)


@plain_text
def sensitivity_figure(result: dict[str, Any]):
    """A matplotlib Figure (object API, no pyplot state) of an analysis result."""
    from matplotlib.figure import Figure

    has_int8 = bool((result.get("int8") or {}).get("layers"))
    n_layers = len((result.get("int8") or {}).get("layers") or [])
    fig = Figure(figsize=(12 if has_int8 else 7, max(4.5, 0.16 * min(n_layers, 30) + 1.5)), layout="constrained")
    axes = fig.subplots(1, 2 if has_int8 else 1, squeeze=False)[0]
    _pruning_panel(axes[0], result)
    if has_int8:
        _int8_panel(axes[1], result)
    model = result.get("model") or {}
    fig.suptitle(f"Sensitivity of {model.get('arch', '?')} at {model.get('point', '?')} "
                 f"({(result.get('data') or {}).get('samples')} validation images, no fine-tuning)", fontsize=9)
    return fig


def write_chart(result: dict[str, Any], path: Path) -> Path:
    """Write the chart as SVG or PNG (by the suffix), atomically."""
    fig = sensitivity_figure(result)
    fmt = Path(path).suffix.lstrip(".")
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format=fmt, dpi=130, metadata={"Date": None} if fmt == "svg" else None)
    return Path(path)


def chart_uri(result: dict[str, Any]) -> str:
    """The chart as an inline SVG data URI (for the self-contained report)."""
    import base64
    import io

    buffer = io.BytesIO()
    sensitivity_figure(result).savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def top_tables(result: dict[str, Any], n: int = 10) -> dict[str, Any]:
    """The top `n` of each: groups cheapest to cut, groups to keep whole (at ratio 0.5), INT8-sensitive layers.

    `cut_dropped` counts the groups left out of `cut` because their measured saving was zero or negative.
    """
    rows = [r for r in result.get("pruning") or [] if abs(r["ratio"] - CHART_RATIO) < 1e-9] or \
        list(result.get("pruning") or [])
    measured = [r for r in rows if r.get("latency_saved_ms") is not None]
    timed = [r for r in measured if r["latency_saved_ms"] > 0]
    cut = sorted(timed, key=lambda r: (r["points_per_ms"], -r["latency_saved_ms"]))[:n]
    keep = sorted(rows, key=lambda r: -r["points_lost"])[:n]
    layers = sorted((result.get("int8") or {}).get("layers") or [],
                    key=lambda r: -(r.get("points_lost_alone") or 0.0))[:n]
    return {"cut": cut, "keep": keep, "int8": layers, "cut_dropped": len(measured) - len(timed)}


def points_lost_text(value: float | None) -> str:
    """Top-1 points lost, two decimals, the one sign used everywhere: "1.25", "0.00" (never "-0.00"),
    "-0.40 (gain)" when the model got better."""
    if value is None:
        return "-"
    if abs(value) < 0.005:
        return "0.00"
    return f"{value:.2f}" if value > 0 else f"{value:.2f} (gain)"
