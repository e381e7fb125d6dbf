"""Where progress goes by default: a terminal or a notebook shows it, a batch job's pipe does not."""

from __future__ import annotations

import sys
from typing import Any


def interactive() -> bool:
    """True in a terminal (stdout is a TTY) or a Jupyter/IPython kernel (notebooks, VS Code, Colab)."""
    stdout = sys.stdout
    if stdout is not None and hasattr(stdout, "isatty") and stdout.isatty():
        return True
    return "ipykernel" in sys.modules


def default_console(progress: bool | None) -> Any:
    """A rich Console for the run's progress, or None for silence.

    `progress=None` decides by `interactive()`; True or False force it. rich renders progress bars in a
    terminal and as live widgets in notebooks.
    """
    if progress is None:
        progress = interactive()
    if not progress:
        return None
    from rich.console import Console

    return Console()


def epoch_title(stage: str, tag: str, epoch: int, epochs: int) -> str:
    """A progress bar's title: "distill 1/3" for a stage's own training, "prune finetune-2 1/3" for a part of
    it; the stage's name is not repeated when the training is the stage ("distill distill 1/3")."""
    parts = [stage] if tag == stage else [stage, tag]
    return " ".join([*parts, f"{epoch}/{epochs}"])
