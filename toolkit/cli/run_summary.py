"""The end of `compress run`: which stages failed or are degraded, and why; read back from the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.records import DEGRADED, FAILED, INTERRUPTED, RUN_ENDED_EARLY

PROBLEMS = (FAILED, DEGRADED, INTERRUPTED)


def problem_lines(stages: list[dict[str, Any]]) -> list[str]:
    """'stage 02-prune degraded: <reason>' for every stage that failed or is degraded."""
    return [f"stage {s.get('index', 0):02d}-{s.get('name', '?')} {s.get('status')}: {s.get('reason') or 'no reason'}"
            for s in stages if s.get("status") in PROBLEMS]


def stages_from_folder(run_dir: Path) -> list[dict[str, Any]]:
    """Each stage of a failed, interrupted or --strict-stopped run as summary_tables rows.

    The stage the run failed in comes last with the run's error; stages that never ran are not listed.

    [] when the folder holds no such run (a recipe error stops before anything is written).
    """
    from toolkit.errors import ToolkitError
    from toolkit.report.collect import read_run

    try:
        view = read_run(run_dir)
    except (ToolkitError, OSError):
        return []
    if view.run.get("status") not in RUN_ENDED_EARLY:
        return []
    cached = {e.get("name"): bool(e.get("cached")) for e in view.run.get("stages") or [] if isinstance(e, dict)}
    return [{**s.metrics, "index": s.index, "name": s.name, "status": s.status, "reason": s.reason,
             "cached": cached.get(s.name, False)} for s in view.stages]


def with_current_latency(run_dir: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` (stage metrics) with each stage's latency as the report shows it: on this run's machine, a
    re-timing (stages timed together at the end of a run) or a `compress bench` in place of the records
    it superseded, so that the terminal and the report never disagree. Rows are left as they are where
    the folder cannot be read."""
    from toolkit.errors import ToolkitError
    from toolkit.report.collect import read_run

    try:
        view = read_run(run_dir)
    except (ToolkitError, OSError):
        return rows
    current = {s.name: s.current_latency() for s in view.stages}
    return [{**row, "latency": current[row["name"]]} if row.get("name") in current else row for row in rows]
