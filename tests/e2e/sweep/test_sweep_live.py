"""The live table of a sweep in a terminal: the trials' states and values redrawn from the study, a line printed
above it for each trial that finishes meanwhile (in any process), none for those finished before."""

from __future__ import annotations

import io
import time

from test_sweep_report import _sweep


def test_the_live_table_shows_the_trials_and_prints_a_line_per_newly_finished_trial(tiny, tmp_path):
    from rich.console import Console

    from toolkit.sweep.live import live_progress
    from toolkit.sweep.storage import open_storage, open_study

    plan, study = _sweep(tiny, tmp_path)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    reader = lambda: open_study(plan, open_storage(None, plan.sweep_dir), create=False)  # noqa: E731
    with live_progress(plan, reader, console) as say:
        say("a message above the table")
        running = study.ask()  # a worker elsewhere starts a trial...
        running.suggest_categorical("stages.1.prune.target.ratio", [0.1, 0.25])
        time.sleep(1.5)
        study.tell(running, [0.5, 3.0])  # ...and finishes it
        time.sleep(2.5)
    text = screen.getvalue()
    assert "a message above the table" in text
    assert f"trial    {running.number} | complete" in text  # its line, printed once it finished
    assert "trial    0 | complete" not in text  # finished before: in --status, not printed again
    assert "running" in text and "sweep tiny:" in text and "trial(s) done" in text
    assert text.count(f"trial    {running.number} | complete") == 1
