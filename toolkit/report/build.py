"""Assemble the report context from run folders: tables, charts, and the summary files."""

from __future__ import annotations

import math
from typing import Any

from toolkit.formatting import human
from toolkit.measure.system import noise_warning
from toolkit.records import DEGRADED, OK, timing_summary
from toolkit.report.analysis import ANY_DEVICE, peer_points, points, recommend
from toolkit.report.collect import RunView
from toolkit.report.plots import accuracy_vs_latency, channel_bars, macs_vs_latency, training_curves
from toolkit.report.readability import loss_kinds
from toolkit.report.sensitivity import sensitivity_section


def _human(n: float | None, unit: str = "") -> str:
    return human(n, unit, sep=" ")


def stage_rows(run: RunView) -> list[dict[str, Any]]:
    """The stage table: accuracy, size, cost and time of every stage, with skip/fail reasons."""
    rows = []
    for s in run.stages:
        model = s.metrics.get("model") or {}
        acc = s.metrics.get("accuracy") or {}
        rows.append({"label": s.label, "type": s.type, "status": s.status, "reason": s.reason,
                     "top1": acc.get("top1"), "top5": acc.get("top5"), "format": model.get("format"),
                     "params": _human(model.get("params")), "macs": _human(model.get("macs")),
                     "size": _human(model.get("size_bytes"), "B"), "seconds": s.metrics.get("seconds")})
    return rows


def latency_rows(run: RunView) -> list[dict[str, Any]]:
    """Every latency record: stage, device, runtime, batch, percentiles, throughput, flags."""
    rows = []
    for s in run.stages:
        for device, _, rec in [*s.latency_records(), *s.superseded_records()]:
            superseded = rec.get("superseded_by")
            rows.append({"stage": s.label, "device": device, "runtime": rec.get("runtime"),
                         "batch": rec.get("batch_size"), "status": "superseded" if superseded else rec.get("status"),
                         "reason": f"re-measured by {superseded}" if superseded else rec.get("reason"),
                         "precision": rec.get("precision"), "p50": rec.get("p50_ms"), "p90": rec.get("p90_ms"),
                         "p99": rec.get("p99_ms"), "throughput": rec.get("throughput_ips"),
                         "threads": rec.get("threads"), "unstable": rec.get("unstable"),
                         "ci_low": rec.get("ci_low_ms"), "ci_high": rec.get("ci_high_ms"),
                         "same_graph_as": rec.get("same_graph_as"), "measured_by": rec.get("measured_by"),
                         "measured_at": rec.get("remeasured")})
    return rows


def _histories(run: RunView) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for s in run.stages:
        extra = s.metrics.get("extra") or {}
        if extra.get("history"):
            out[s.label] = extra["history"]
        for step in extra.get("steps") or []:
            if (step.get("finetune") or {}).get("history"):
                out[f"{s.label} step {step['step']}"] = step["finetune"]["history"]
        if (extra.get("qat") or {}).get("history"):
            out[f"{s.label} qat"] = extra["qat"]["history"]
    return out


def _macs_rows(run: RunView) -> tuple[list[dict[str, Any]], str | None, int | None]:
    """(rows, device, batch) for the MACs-vs-latency chart: the baseline's device at its smallest batch
    size, so that one chart never mixes machines or batch sizes."""
    base = run.baseline()
    own = [(slug, rec) for s in ([base] if base else []) for slug, _, rec in s.latency_records()
           if rec.get("status") == OK and rec.get("p50_ms")]
    if not own:
        return [], None, None
    device = own[0][0]
    batch = min(rec.get("batch_size", 1) for slug, rec in own if slug == device)
    rows = []
    for s in run.stages:
        model = s.metrics.get("model") or {}
        for slug, _, rec in s.latency_records():
            if slug == device and rec.get("batch_size") == batch and rec.get("status") == OK \
                    and model.get("macs") and rec.get("p50_ms"):
                rows.append({"stage": s.label, "runtime": rec["runtime"], "macs": model["macs"],
                             "latency_ms": rec["p50_ms"], "unstable": bool(rec.get("unstable")),
                             "ci_low_ms": rec.get("ci_low_ms"), "ci_high_ms": rec.get("ci_high_ms")})
    return rows, device, batch


def _pruning(run: RunView) -> list[dict[str, Any]]:
    out = []
    macs_rows, device, batch = _macs_rows(run)
    for s in run.stages:
        extra = s.metrics.get("extra") or {}
        # Keyed by the channel table a pruning stage writes, not by its type: a plugin stage that prunes gets the
        # section too. A degraded cut is shown (marked) because its channel table is what explains the damage.
        if s.status not in (OK, DEGRADED) or "channels" not in extra:
            continue
        out.append({"label": s.label, "status": s.status, "reason": s.reason, "extra": extra,
                    "blocked": _blocked(extra.get("round_to_blocked")),
                    "timed_in": _timed_in(extra), "round_to": _round_to(extra),
                    "channels_svg": channel_bars(extra["channels"], f"{s.label}: output channels"),
                    "macs_svg": macs_vs_latency(macs_rows, str(device), int(batch or 1)) if macs_rows else None,
                    "macs_device": device, "macs_batch": batch})
    return out


def _speedup(point: Any) -> float | None:
    value = point.get("speedup") if isinstance(point, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        value = float(value)  # an integer past float's range raises here
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _timed_in(extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Per latency-searched step: the precision it was timed in, and the chosen cut's speedup in that precision
    beside its fp32 speedup (prune.target.precision); rows of run-folder data, so every value is checked."""
    steps = extra.get("steps")
    rows = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict) or not isinstance(step.get("precision"), str):
            continue
        rows.append({"step": step.get("step"), "precision": step["precision"],
                     "reason": str(step.get("precision_reason") or ""), "runtime": str(step.get("runtime") or ""),
                     "batch_size": step.get("batch_size"), "goal": _speedup({"speedup": step.get("goal")}),
                     "speedup": _speedup(step.get("chosen")), "fp32_speedup": _speedup(step.get("chosen_fp32"))})
    return rows


def _blocked(record: Any) -> dict[str, Any] | None:
    """The layers a channel multiple kept whole ({multiple, layers}), or None for anything else (run-folder data)."""
    if not isinstance(record, dict) or type(record.get("multiple")) is not int:
        return None
    if not isinstance(record.get("layers"), list):
        return None
    layers = [str(name) for name in record["layers"]]
    return {"multiple": record["multiple"], "count": len(layers),
            "names": ", ".join(layers[:6]) + (", ..." if len(layers) > 6 else "")}


def _round_to(extra: dict[str, Any]) -> dict[str, str] | None:
    """`round_to: auto`'s choice as text: the multiple, how it was chosen (measured, cached, table) and why."""
    chosen = extra.get("round_to")
    if not isinstance(chosen, dict) or not isinstance(chosen.get("value"), int):
        return None
    return {"value": str(chosen["value"]), "how": str(chosen.get("how", "")), "reason": str(chosen.get("reason", ""))}


# The quantization and engine sections list their stages by type, skipped ones too (with the reason), and a
# skipped stage writes no data to key them by; the catalogue that knows stage types imports torch.
def _quantization(run: RunView) -> list[dict[str, Any]]:
    return [{"label": s.label, "extra": s.metrics.get("extra") or {}, "status": s.status, "reason": s.reason}
            for s in run.stages if s.type == "quantize"]


def _engines(run: RunView) -> list[dict[str, Any]]:
    return [{"label": s.label, "extra": s.metrics.get("extra") or {}, "status": s.status, "reason": s.reason}
            for s in run.stages if s.type == "engine"]


def run_section(run: RunView, budget: float) -> dict[str, Any]:
    """Everything the template shows for one run."""
    histories = _histories(run)
    return {"name": run.name, "path": str(run.path), "status": run.run.get("status"),
            "error": run.run.get("error"), "seconds": run.run.get("seconds"), "started": run.run.get("started"),
            "recommendations": recommend(run, budget), "stages": stage_rows(run), "latency": latency_rows(run),
            "noise_warning": noise_warning([r for s in run.stages for _, _, r in s.latency_records()]),
            "curves_svg": training_curves(histories, loss_kinds(run.stages, histories))
            if histories else None, "pruning": _pruning(run),
            "quantization": _quantization(run), "engines": _engines(run), "devices": run.devices(),
            "data": run.run.get("data") or {}, "recipe": run.recipe_text, "budget": budget,
            "sensitivity": (sensitivity := sensitivity_section(run)),
            "warnings": [*(run.run.get("warnings") or []), *run.peers[1], *sensitivity["problems"],
                         *(f"{s.label}: {s.integrity}; its numbers may not be the ones the run measured"
                           for s in run.stages if s.integrity)],
            "timing": timing_summary(run.run, [s.metrics.get("seconds") for s in run.stages])}


def device_charts(runs: list[RunView]) -> list[dict[str, str]]:
    """One accuracy-vs-latency chart per device, all runs on it."""
    per_device: dict[str, dict[str, list]] = {}
    for run in runs:
        for p in points(run):
            per_device.setdefault(p.device, {}).setdefault(run.name, []).append(p)
    for run in runs:  # peers (peers.json) on the chart too: the recommendation may be one of them
        peers = peer_points(run)
        for device, series in per_device.items():
            mine = [p for p in peers if p.device in (device, ANY_DEVICE)]
            if mine and run.name in series:
                series[f"{run.name}: peers"] = mine
    return [{"device": device, "svg": accuracy_vs_latency(series, device)}
            for device, series in sorted(per_device.items())]
