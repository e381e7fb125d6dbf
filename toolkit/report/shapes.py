"""The shapes the report expects of run.json, metrics.json and bench files; anything else is dropped.

A run folder may be edited by hand, truncated or come from someone else. Each value the report reads is
checked against its expected type here, once, so the rest of the report code can trust what it gets: a
value of the wrong type becomes None (or an empty list or mapping) instead of a traceback later. The
top-level fields of run.json and metrics.json (statuses included) are checked by their typed records
(toolkit.records); the sections the report draws (latency, model, accuracy, extra) are checked here.
"""

from __future__ import annotations

import math
from typing import Any

from toolkit.records import read_metrics, read_run


def _num(value: Any) -> float | int | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _positive(value: Any) -> float | int | None:
    """A time in ms: a measured latency is never zero or negative (the report divides by it)."""
    number = _num(value)
    return number if number is not None and number > 0 else None


def _fraction(value: Any) -> float | int | None:
    number = _num(value)
    return number if number is not None and 0 <= number <= 1 else None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _records(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _fields(record: dict[str, Any], checks: dict[str, Any]) -> dict[str, Any]:
    """`record` with each field in `checks` passed through its check (other fields kept as they are)."""
    out = dict(record)
    for key, check in checks.items():
        if key in out:
            out[key] = check(out[key])
    return out


def _load_notes(value: Any) -> dict[str, Any] | None:
    """System notes (measure.system.system_notes) with load averages as numbers and a CPU count; else None."""
    if not isinstance(value, dict):
        return None
    notes = _fields(value, {"logical_cpus": _int, "cpu_mhz": _num, "cpu_max_mhz": _num, "governor": _str})
    load = notes.get("load_avg")
    notes["load_avg"] = load if isinstance(load, list) and load and all(_num(v) is not None for v in load) else None
    return notes


def _system(value: Any) -> dict[str, Any] | None:
    system = _dict(value)
    return {"before": _load_notes(system.get("before")), "after": _load_notes(system.get("after"))} \
        if system else None


LATENCY = {"runtime": _str, "batch_size": _int, "status": _str, "reason": _str, "precision": _str, "format": _str,
           "threads": _int, "unstable": _bool, "p50_ms": _positive, "p90_ms": _positive, "p99_ms": _positive,
           "mean_ms": _positive, "throughput_ips": _num, "ci_low_ms": _positive, "ci_high_ms": _positive,
           "graph": _str, "system": _system}
# the `extra` values the report prints with number formats: prune, quantize and engine stages
PRUNE_EXTRA = {"method": _str, "macs_before": _int, "macs_after": _int, "params_before": _int, "params_after": _int,
               "macs_speedup": _num, "params_removed": _fraction, "target_met": _bool, "target_reason": _str}
QUANT_EXTRA = {"fp32_top1": _fraction, "int8_top1_before_fallback": _fraction, "drop_points": _num,
               "max_accuracy_drop": _num, "bound_met": _bool, "scheme": _str, "scheme_reason": _str}
MODEL = {"format": _str, "file": _str, "params": _int, "macs": _int, "size_bytes": _int, "sha256": _str}
ACCURACY = {"top1": _fraction, "top5": _fraction, "samples": _int, "reason": _str}


def clean_device(value: Any) -> dict[str, Any]:
    """A device description: a mapping whose 'cpu' is text and whose 'gpu'/'jetson' are mappings or None."""
    device = _dict(value)
    if not device:
        return {}
    device = dict(device)
    device["cpu"] = str(device.get("cpu") or "unknown")
    for key in ("gpu", "jetson"):
        if key in device and not isinstance(device[key], dict):
            device[key] = None
    return device


def clean_latency(value: Any) -> list[dict[str, Any]]:
    """Latency records with a runtime name and batch size, their numbers finite."""
    records = [_fields(r, LATENCY) for r in _records(value)]
    return [r for r in records if r.get("runtime") is not None and r.get("batch_size") is not None]


def _history(value: Any) -> list[dict[str, Any]]:
    rows = [_fields(r, {"epoch": _num, "loss": _num, "val_top1": _fraction}) for r in _records(value)]
    return [r for r in rows if r.get("epoch") is not None and r.get("loss") is not None]


def clean_extra(value: Any) -> dict[str, Any]:
    """A stage's `extra` section: the training histories, steps and channel tables the report draws."""
    extra = _fields(_dict(value), {**PRUNE_EXTRA, **QUANT_EXTRA})
    for key in ("kept_float", "engines", "sensitivity"):
        if key in extra:
            extra[key] = _records(extra[key])
    for record in extra.get("engines", []):
        record.update(_fields(record, {"build_seconds": _num, "p50_ms": _positive}))
    for record in extra.get("sensitivity", []):
        record.update(_fields(record, {"top1_if_float": _fraction, "recovered_points": _num}))
    for key in ("layer_precisions", "calibration", "quantizer"):
        if key in extra:
            extra[key] = _dict(extra[key])
    if "placement" in extra:
        placement = dict(_dict(extra["placement"]))
        placement["findings"] = _records(placement.get("findings"))
        extra["placement"] = placement
    if "history" in extra:
        extra["history"] = _history(extra["history"])
    if "steps" in extra:
        extra["steps"] = _records(extra["steps"])
    if "qat" in extra:
        qat = dict(_dict(extra["qat"]))
        if "history" in qat:
            qat["history"] = _history(qat["history"])
        extra["qat"] = qat
    if "channels" in extra:
        channels = _dict(extra["channels"])
        extra["channels"] = {str(k): [_int(v[0]), _int(v[1])] for k, v in channels.items()
                             if isinstance(v, list) and len(v) == 2}
    return extra


def clean_metrics(value: Any) -> dict[str, Any]:
    """A stage's metrics.json as the report reads it ({} when it is not a mapping)."""
    record = read_metrics(value)  # wrong-typed top-level values and unknown statuses dropped
    metrics = record.as_dict() if record is not None else {}
    if "model" in metrics:
        metrics["model"] = _fields(_dict(metrics["model"]), MODEL)
    if "accuracy" in metrics:
        metrics["accuracy"] = _fields(_dict(metrics["accuracy"]), ACCURACY)
    if "latency" in metrics:
        metrics["latency"] = clean_latency(metrics["latency"])
    if "device" in metrics:
        metrics["device"] = clean_device(metrics["device"])
    if "extra" in metrics:
        metrics["extra"] = clean_extra(metrics["extra"])
    return metrics


def clean_bench(value: Any) -> dict[str, Any] | None:
    """A measurements/<device>.json record, or None when it is not a mapping."""
    if not isinstance(value, dict):
        return None
    return {**value, "latency": clean_latency(value.get("latency")), "device": clean_device(value.get("device"))}


def clean_run(value: Any) -> dict[str, Any] | None:
    """run.json as the report reads it, or None when it is not a mapping."""
    record = read_run(value)  # wrong-typed values, unknown statuses and malformed stage entries dropped
    if record is None:
        return None
    run = record.as_dict()
    run["stages"] = list(run.get("stages") or [])
    run["planned"] = list(run.get("planned") or [])
    run["data"] = _dict(run.get("data"))
    if "device" in run:
        run["device"] = clean_device(run["device"])
    return run
