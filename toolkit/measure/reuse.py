"""Latency records an earlier stage of the same run measured on this machine, for identical graphs to reuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.fsutil import read_json
from toolkit.measure.device import same_machine
from toolkit.records import OK, read_metrics


def earlier_records(run_dir: Path, before_index: int, device: dict[str, Any], measure_key: str | None
                    ) -> list[tuple[str, dict[str, Any]]]:
    """(stage label, ok latency record with a graph fingerprint) of finished stages before `before_index`.

    Only stages measured on the same device with the same measure settings (`measure_key`) count: a record
    from another machine or another timing method says nothing about this one.
    """
    from toolkit.layout import STAGE_DIR

    out = []
    for directory in sorted(Path(run_dir).iterdir()) if Path(run_dir).is_dir() else []:
        match = STAGE_DIR.match(directory.name)
        if not match or directory.name.startswith(".") or int(match.group(1)) >= before_index:
            continue
        try:
            metrics = read_metrics(read_json(directory / "metrics.json"))  # typed; None when not an object
        except ValueError:
            continue
        if metrics is None or metrics.status != OK or metrics.measure_key != measure_key:
            continue
        checked = metrics.as_dict()  # the file less the values that do not fit their typed sections
        if not same_machine(checked.get("device"), device):
            continue
        for rec in checked.get("latency") or []:
            if rec.get("status") == OK and rec.get("graph_hash") and not rec.get("reused"):
                out.append((directory.name, rec))
    return out
