"""The rows `compress bench RUN` prints: its new measurement files as cli_format.summary_tables expects them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.fsutil import read_json
from toolkit.records import OK


def measured_stages(paths: list[Path]) -> list[dict[str, Any]]:
    """One summary row per measurements/<device>.json written by bench_run, in stage order.

    Each row has the stage's index and name, status 'ok', its compute seconds and extra (from its
    metrics.json), and the record's latency, accuracy and model sections; a file that cannot be read back (removed or
    edited meanwhile) is left out.
    """
    rows = []
    for path in paths:
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict):
            continue
        index = record.get("index")
        latency = record.get("latency")
        try:  # the stage's own compute seconds, as `compress run` shows them (bench itself trains nothing)
            metrics = read_json(path.parent.parent / "metrics.json")
        except (OSError, ValueError):
            metrics = None
        metrics = metrics if isinstance(metrics, dict) else {}
        seconds, extra = metrics.get("seconds"), metrics.get("extra")
        rows.append({"index": index if type(index) is int else 0,
                     "name": str(record.get("stage") or path.parent.parent.name), "status": OK,
                     "seconds": seconds if isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
                     else None,
                     "accuracy": record.get("accuracy") if isinstance(record.get("accuracy"), dict) else {},
                     "model": record.get("model") if isinstance(record.get("model"), dict) else {},
                     "latency": [r for r in latency if isinstance(r, dict)] if isinstance(latency, list) else [],
                     # the quantize stage's own INT8-vs-fp32 check, for the table's `int8 slower!`
                     "extra": extra if isinstance(extra, dict) else {}})
    return rows
