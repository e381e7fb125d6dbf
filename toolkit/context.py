"""What a stage receives besides its model and config: data, device, folders, logging, earlier stages.

Not the recipe: what a stage needs from elsewhere in the recipe is resolved at validation into its config
(`cfg.resolved`, a typed StageFacts), so that its cache key follows from its config. Only a technique's
`stage.py` sees this.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from toolkit.artifacts import Model
from toolkit.site import TrainingEnv

if TYPE_CHECKING:
    from rich.console import Console

    from toolkit.config import MeasureSpec, ModelSpec
    from toolkit.data import DataBundle


@dataclass
class StageResult:
    """A stage's output: the new model (None: unchanged), metrics for `extra`, and extra files it wrote."""

    model: Model | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


class StageLog:
    """Writes timestamped lines to the stage's log.txt and, unless quiet, to the console."""

    def __init__(self, path: Path | None, console: Console | None, prefix: str):
        self.path, self.console, self.prefix = path, console, prefix  # path None: nothing is written

    def info(self, message: str) -> None:
        """Log one line."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a log.txt that is a symbolic link (a copied run folder) is never written through
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            with open(os.open(self.path, flags, 0o644), "a", encoding="utf-8") as handle:
                handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        if self.console is not None:
            self.console.print(f"{self.prefix} {message}", highlight=False, markup=False, soft_wrap=True)

    def file_only(self, message: str) -> None:
        """Write `message` to log.txt only (a traceback: the console gets the one-line error instead)."""
        console, self.console = self.console, None
        try:
            self.info(message)
        finally:
            self.console = console

    def warning(self, message: str) -> None:
        """Log a warning line."""
        self.info(f"WARNING: {message}")


@dataclass
class EarlierStage:
    """A completed stage of this run, as later stages see it."""

    index: int
    name: str
    type: str
    directory: Path
    format: str
    load: Callable[[], Model]


@dataclass
class StageContext:
    """Everything a stage may use; nothing reaches a stage through globals."""

    measure: MeasureSpec  # how models are measured: runtimes, batch sizes, threads
    data: DataBundle
    device: torch.device
    seed: int
    index: int
    name: str
    stage_dir: Path
    run_dir: Path
    log: StageLog
    model_spec: dict[str, Any]  # how to rebuild this run's models: architecture, classes, image size
    earlier: list[EarlierStage]
    input_spec: ModelSpec | None = None  # the recipe's input model, with its weights or checkpoint
    console: Console | None = None
    hooks: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1
    dist: Any = None  # toolkit.distributed.Dist when several processes run
    data_key: str = ""  # identity of the data (spec, in-memory source, seed): part of derived caches' keys
    cache_ok: bool = True  # False when in-memory inputs cannot be keyed safely: no derived cache may be reused
    stage_type: str = ""  # the registered stage name (its YAML key), e.g. 'prune'
    memo: dict[str, Any] = field(default_factory=dict)  # values a stage computes once per run step

    @property
    def options_path(self) -> str:
        """Where this stage's options are in the recipe: 'stages[2].prune'."""
        return f"stages[{self.index - 1}].{self.stage_type or self.name}"

    def earlier_stage(self, ref: str | int) -> EarlierStage:
        """Find an earlier stage by name or by recipe index (0-based, as in `stages[i]`)."""
        for stage in self.earlier:
            if (isinstance(ref, int) and stage.index - 1 == ref) or stage.name == ref:
                return stage
        raise KeyError(f"no earlier stage '{ref}'")

    def earlier_torch_model(self, ref: str | int) -> nn.Module:
        """Load the torch model an earlier stage produced."""
        model = self.earlier_stage(ref).load()
        if not isinstance(model, nn.Module):
            raise TypeError(f"stage '{ref}' produced {model.format}, not a torch model")
        return model

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """Real validation images as an input batch (for tracing, export, pruning graphs)."""
        return self.data.example_input(batch_size)

    def run_hooks(self, event: str, **payload: Any) -> None:
        """Call user/test hooks registered for `event` (e.g. 'epoch_end')."""
        for hook in self.hooks.get(event, []):
            hook(ctx=self, **payload)

    def training_env(self) -> TrainingEnv:
        """The explicit input of the training loop (toolkit.site.TrainingEnv) for this stage."""
        label = f"{self.index:02d}-{self.name}" if self.index else self.name
        return TrainingEnv(data=self.data, device=self.device, log=self.log, checkpoint_dir=self.stage_dir,
                           seed=self.seed, name=self.name, label=label,
                           options_path=self.options_path if self.index else "stages[0].train", dist=self.dist,
                           console=self.console, epoch_end=lambda **payload: self.run_hooks("epoch_end", **payload))

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0
