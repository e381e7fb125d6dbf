"""`compress sweep`: the command's work, so that the CLI module only declares its options."""

from __future__ import annotations

from pathlib import Path

from toolkit.progress import default_console
from toolkit.sweep.engine import Say, run_sweep, status_lines, work
from toolkit.sweep.spec import load_sweep
from toolkit.sweep.storage import HEARTBEAT_S


def sweep_command(recipe: Path, *, workers: int, storage: str | None, status: bool, worker: bool,
                  worker_index: int, plugins: list[str], say: Say, heartbeat_s: int | None = None,
                  quiet: bool = False) -> None:
    """Check the recipe and its sweep section, then list the trials (`status`), run one worker (`worker`: a
    process started by the coordinator) or coordinate the sweep (start `workers` processes, write the summary).

    Raises UserInputError / RecipeError (exit 2) for bad input, before any compute; KeyboardInterrupt on Ctrl-C."""
    plan = load_sweep(recipe)
    heartbeat_s = heartbeat_s or HEARTBEAT_S
    if status:
        for line in status_lines(plan, storage):
            say(line)
        return
    if worker:
        work(plan, storage, worker_index, say, heartbeat_s, announce=not quiet)
        return
    args = [a for p in plugins for a in ("--plugin", p)] + ["sweep", str(recipe), "--worker"]
    args += ["--storage", storage, "--heartbeat", str(heartbeat_s)] if storage else []
    console = default_console(None)  # a live table in a terminal; a line per trial when piped
    run_sweep(plan, storage, workers, say, worker_args=args, heartbeat_s=heartbeat_s, console=console)
    say(f"report: {plan.sweep_dir / 'report.html'} (summary.md, summary.json beside it); `compress sweep {recipe} "
        f"--status` lists the trials")
