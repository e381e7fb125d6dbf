"""A run's two times, kept apart: the compute its stages cost, and how long the last invocation took.

A rerun that reads every stage from the cache takes a fraction of a second, but the models it shows
still cost the minutes their stages took when they ran; the report and run.json say both.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

FROM_COMMAND = "from the command's start: Python start-up, imports, data preparation and checks, and the stages"
FROM_CALL = "from the run() call: data preparation and checks, and the stages (imports not counted)"


def process_start_time() -> float | None:
    """When this process started, in seconds since the epoch (Linux /proc); None where that is unknown.

    The `compress` command's wall time is counted from here, so that the seconds it reports include the
    interpreter's start-up, the imports and the data preparation the user waited for, not only the stages."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat_file:
            # fields after the command name (which may hold spaces) close with ')'; starttime is field 22
            start_ticks = int(stat_file.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime_file:  # 10 ms resolution; /proc/stat's btime: 1 s
            uptime = float(uptime_file.read().split()[0])
        import os

        return time.time() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def invocation_start(command_started: float | None) -> dict[str, Any]:
    """Where this invocation's wall time starts: the command's start when known (`command_started`, seconds
    since the epoch), else now (the start of Pipeline.run). Returns {"at": epoch seconds, "covers": text}."""
    if command_started is not None and command_started <= time.time():
        return {"at": command_started, "covers": FROM_COMMAND}
    return {"at": time.time(), "covers": FROM_CALL}


BEFORE_REPORT = "; the report's own build time is not in it (run.json's figure, written after the report, is)"
WITH_REPORT = ", and building the report (or trying to)"


def wall_time(start: Mapping[str, Any], *, after_report: bool = False) -> dict[str, Any]:
    """run.json fields for the invocation that began at `start` (from invocation_start), measured now.

    The report shows the figure measured just before it is built (it cannot contain its own build time);
    run.json is then rewritten with the figure measured after it (`after_report`), which the CLI prints."""
    return {"seconds": round(max(time.time() - float(start["at"]), 0.0), 3),
            "seconds_cover": start["covers"] + (WITH_REPORT if after_report else BEFORE_REPORT)}


def compute_time(outcomes: Iterable[Any]) -> dict[str, Any]:
    """run.json fields from stage outcomes (objects with `seconds` and `cached`): compute seconds are the
    sum of every stage's own seconds, a cached stage's being the time it took when it was computed."""
    outcomes = list(outcomes)
    return {"compute_seconds": round(sum(float(o.seconds or 0.0) for o in outcomes), 3),
            "cached_stages": sum(1 for o in outcomes if o.cached)}
