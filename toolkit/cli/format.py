"""Terminal rendering: the end-of-run table and the stage reference (text and Markdown)."""

from __future__ import annotations

from typing import Any

from toolkit.formatting import human
from toolkit.quantize.speed_flags import int8_slower_shown, source_records
from toolkit.records import FAILED, OK, PROBLEM_STATUSES


def summary_tables(stages: list[dict[str, Any]]) -> list[Any]:
    """Two rich tables: per stage (status, top-1, params, MACs, size, time), then p50 latency in ms
    with one row per runtime and batch size and one column per stage (fits a narrow terminal)."""
    from rich.table import Table

    from rich.markup import escape

    names = [escape(f"{m.get('index', 0):02d}-{m.get('name', '?')}") for m in stages]  # names may come from files
    overview = Table(title="stages")
    for head in ("stage", "status", "top-1", "params", "MACs", "size", "seconds"):
        overview.add_column(head, justify="left" if head in ("stage", "status") else "right")
    for name, metrics in zip(names, stages):
        acc = (metrics.get("accuracy") or {}).get("top1")
        model = metrics.get("model") or {}
        status = metrics.get("status", "?") + (" (cached)" if metrics.get("cached") else "")
        if metrics.get("status") in PROBLEM_STATUSES:  # the reason is printed under the table
            status = f"[bold red]{status}[/]"
        elif (metrics.get("extra") or {}).get("target_met") is False:  # the run's log says by how much
            status += ", [yellow]target missed[/]"
        overview.add_row(name, status, f"{acc:.4f}" if acc is not None else "-", human(model.get("params")),
                         human(model.get("macs")), human(model.get("size_bytes"), "B"),
                         _seconds(metrics.get("seconds")))
    rows: list[tuple[str, int]] = []
    for metrics in stages:
        for rec in metrics.get("latency") or []:
            if (rec["runtime"], rec["batch_size"]) not in rows:
                rows.append((rec["runtime"], rec["batch_size"]))
    latency = Table(title="latency p50 (ms), ~ unstable")
    # Runtime names never shrink (`onnxrunt…` reads as nothing); stage headers take two short lines instead.
    latency.add_column("runtime", no_wrap=True, min_width=max(len(r) for r, _ in rows) if rows else None)
    latency.add_column("batch", justify="right")
    for name in names:
        latency.add_column(name.replace("-", "\n", 1), justify="right", overflow="fold")
    for runtime, bs in rows:
        cells = []
        for position, metrics in enumerate(stages):
            rec = next((r for r in metrics.get("latency") or [] if (r["runtime"], r["batch_size"]) == (runtime, bs)),
                       None)
            extra = metrics.get("extra") or {}
            slower = "int8_vs_fp32" in extra and (runtime, bs) in int8_slower_shown(  # only a quantize stage's cells
                extra, [rec] if rec else [], source_records(stages, position, runtime, bs))
            ok = rec is not None and rec.get("status") == OK
            cells.append(_latency_cell(rec) + (" int8 slower!" if slower else "") if ok
                         else (rec or {}).get("status", "-"))
        latency.add_row(runtime, str(bs), *cells)
    from toolkit.measure.system import noise_warning

    warning = noise_warning([r for m in stages for r in m.get("latency") or []])
    failures = _latency_failures(stages)
    return [overview, latency] + ([warning] if warning else []) + failures if rows else [overview]


def _latency_failures(stages: list[dict[str, Any]]) -> list[Any]:
    """One line per stage, runtime and reason whose latency failed (a runtime that crashed on the model, an export
    that failed), as plain text: a reason is not rich markup."""
    from rich.text import Text

    lines: list[str] = []
    for metrics in stages:
        name = f"{metrics.get('index', 0):02d}-{metrics.get('name', '?')}"
        for rec in metrics.get("latency") or []:
            line = f"latency of {name} on {rec.get('runtime')} failed: {rec.get('reason') or 'no reason recorded'}"
            if rec.get("status") == FAILED and line not in lines:
                lines.append(line)
    return [Text(line, style="red") for line in lines]


def _latency_cell(rec: dict[str, Any]) -> str:
    """'0.512' for a steady record, '~0.512' for an unstable one (its interval is too wide to compare)."""
    return ("~" if rec.get("unstable") else "") + f"{rec['p50_ms']:.3f}"


def stage_reference(markdown: bool = False) -> str:
    """Every recipe key and every stage's options, with choices and defaults (see toolkit.cli.stage_reference)."""
    from toolkit.cli.stage_reference import stage_reference as reference

    return reference(markdown)


def _seconds(value: Any) -> str:
    """A stage's compute seconds for the table; '-' when not recorded (never a made-up 0.0)."""
    return f"{value:.1f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"
