"""Live progress of a sweep in a terminal: a rich table of the trials (state, parameters, objective values, seconds),
redrawn from the study once a second while the workers run, with one line printed above it per finished trial.
Piped (a batch job, a log file) there is no table: each finished trial is one plain line (`results.trial_line`).

The table reads the study through a storage of its own, in a thread of the coordinator: the workers, in this
process or in others, are not touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from toolkit.sweep.recovery import state_word
from toolkit.sweep.results import trial_line, trial_rows
from toolkit.sweep.spec import SweepPlan

REFRESH_S = 1.0
SHOWN = 20  # the newest trials in the table; the summary and --status list them all


def trials_table(plan: SweepPlan, rows: list[dict[str, Any]], budget: int) -> Any:
    """The rich Table of the newest trials (running first), with the count of finished ones in its title."""
    from rich.table import Table

    done = sum(1 for r in rows if r["state"] in ("COMPLETE", "FAIL") and not r.get("interrupted"))
    table = Table(title=f"sweep {plan.recipe.name}: {done} of {budget} trial(s) done", title_justify="left")
    dimensions = [".".join(d.path.split(".")[-2:]) for d in plan.dimensions]  # prune.target.x -> target.x
    for column in ("trial", "state", *dimensions, *[o.label for o in plan.objectives], "seconds"):
        table.add_column(column, overflow="fold")
    order = sorted(rows, key=lambda r: (r["state"] != "RUNNING", -r["number"]))[:SHOWN]
    for r in order:
        state = state_word(r)
        style = {"running": "yellow", "complete": "green", "fail": "red", "interrupted": "red",
                 "lost": "red"}.get(state, "")
        values = [f"{r['values'][o.label]:.4g}" if o.label in r["values"] else "" for o in plan.objectives]
        seconds = r.get("seconds")
        if seconds is None and r.get("started") is not None:
            seconds = time.time() - r["started"]
        table.add_row(str(r["number"]), f"[{style}]{state}[/]" if style else state,
                      *[str(r["params"].get(d.path, "")) for d in plan.dimensions], *values,
                      f"{seconds:.0f}" if seconds is not None else "")
    return table


@contextmanager
def live_progress(plan: SweepPlan, open_study: Callable[[], Any], console: Any) -> Iterator[Callable[[str], None]]:
    """Show the live table on `console` (a rich Console on a terminal) while the block runs; yields the `say`
    that prints a line above the table. The line of each trial that finishes meanwhile, in this process or
    another, is printed from the study (so workers do not print their own). `open_study()` opens the study on
    a storage of the table's own, read from the table's thread."""
    from rich.live import Live

    stop = threading.Event()
    study = open_study()

    def rows() -> list[dict[str, Any]]:
        found = trial_rows(study, plan.objectives)
        starts = {t.number: t.datetime_start for t in study.get_trials(deepcopy=False)}
        for r in found:
            started = starts.get(r["number"])
            r["started"] = started.timestamp() if started is not None else None
        return found

    # trials finished before this run are in --status and the summary, not printed again
    printed = {r["number"] for r in rows() if r["state"] in ("COMPLETE", "FAIL")}
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        def refresh() -> None:
            while not stop.is_set():
                try:
                    current = rows()
                except Exception:  # noqa: BLE001 - a storage being written by a worker: try again next time
                    stop.wait(REFRESH_S)
                    continue
                for r in current:
                    if r["number"] not in printed and r["state"] in ("COMPLETE", "FAIL"):
                        printed.add(r["number"])
                        live.console.print(trial_line(r), markup=False, highlight=False)
                live.update(trials_table(plan, current, plan.budget))
                stop.wait(REFRESH_S)

        thread = threading.Thread(target=refresh, name="sweep-progress", daemon=True)
        thread.start()
        try:
            yield lambda line: live.console.print(line, markup=False, highlight=False)
        finally:
            stop.set()
            thread.join(timeout=10)
