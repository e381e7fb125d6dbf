"""Before the report: re-time a run's stages together when their latencies come from different sessions.

A stage read from the cache, or shared from a sibling run, brings latencies measured minutes or days
earlier by another process under another load; the report's speedups would compare those moments, not
the models. When the stages' latencies on this machine carry more than one timing session, every stage
is timed again here, all together in interleaved rounds (the models exist: this is cheap next to the
stages), and written where `compress bench` writes (NN-<stage>/measurements/<device>.json), which the
report reads in place of the older records (toolkit.report.collect: one answer per machine).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolkit.config import MeasureSpec
from toolkit.fsutil import atomic_write_json
from toolkit.measure.device import describe_device, device_slug, same_machine
from toolkit.records import HAS_MODEL, OK

MEASUREMENTS = "measurements"


def _current(directory: Path, metrics: dict[str, Any], device: dict[str, Any]) -> dict[str, Any]:
    """The latencies the report will use for a stage on this machine: a re-timing file there, else metrics."""
    from toolkit.fsutil import read_json

    try:
        timed = read_json(directory / MEASUREMENTS / f"{device_slug(device)}.json")
    except ValueError:
        return metrics
    return timed if isinstance(timed, dict) and same_machine(timed.get("device"), device) else metrics


def sessions_here(records: list[dict[str, Any]], device: dict[str, Any]) -> set[str | None]:
    """The timing sessions of the ok latency records measured on this machine (`records`: metrics.json or
    measurements files; None: a record written before sessions were recorded)."""
    found: set[str | None] = set()
    for stage in records:
        if not same_machine(stage.get("device"), device):
            continue
        for rec in stage.get("latency") or []:
            if isinstance(rec, dict) and rec.get("status") == OK:
                found.add(rec.get("session") if isinstance(rec.get("session"), str) else None)
    return found


def retime_if_mixed(outcomes: list[Any], loaders: dict[str, Callable[[], Any]], data, spec: MeasureSpec,
                    log: Callable[[str], None]) -> str | None:
    """Time every stage with a model together when their latencies here span several sessions.

    `outcomes`: the run's StageOutcome objects (name, directory, status, metrics); `loaders`: stage name ->
    model loader. Returns what was done (for run.json's warnings-free log), or None when nothing was needed.
    Writes NN-<stage>/measurements/<device-slug>.json per stage, as `compress bench` does."""
    from toolkit.measure.together import measure_interleaved

    device = describe_device()
    stages = [o for o in outcomes if o.status in HAS_MODEL and o.metrics and o.metrics.get("latency")
              and o.name in loaders]
    sessions = sessions_here([_current(o.directory, o.metrics, device) for o in stages], device)
    if len(stages) < 2 or len(sessions) < 2:
        return None
    log(f"the stages' latencies come from {len(sessions)} timing sessions (cached or shared stages); timing all "
        f"{len(stages)} stages together so that the report compares timings taken together")
    with tempfile.TemporaryDirectory() as scratch:
        results = measure_interleaved([(o.directory.name, loaders[o.name](), o.directory) for o in stages], data,
                                      spec, False, Path(scratch))
    slug = device_slug(device)
    for outcome in stages:
        result = results[outcome.directory.name]
        atomic_write_json(outcome.directory / MEASUREMENTS / f"{slug}.json", {
            "stage": outcome.name, "index": outcome.index, "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "device_slug": slug, "retimed_by": "compress run: stages timed in different sessions", **result})
    return f"re-timed {len(stages)} stages together (their latencies came from {len(sessions)} sessions)"
