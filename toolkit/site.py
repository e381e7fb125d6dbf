"""What technique code that trains or measures inside a stage may use: a narrow, typed view of the stage.

Technique modules (the training loop, the latency search, QAT) declare their parameter as `StageSite`
instead of importing `toolkit.context`: they see data, device, folders, logging and ranks, never the recipe
or other stages' options. `toolkit.context.StageContext` satisfies this protocol; so can a test double.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch
    from rich.console import Console
    from torch import nn

    from toolkit.config import MeasureSpec
    from toolkit.data import DataBundle


class SiteLog(Protocol):
    """The stage's log: lines to log.txt and the console."""

    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...


class StageSite(Protocol):
    """Data, device, folders, logging and ranks of the stage a technique runs in."""

    data: DataBundle
    device: torch.device
    seed: int  # seeds this stage's shuffling and initialisation
    index: int  # position in the run (1 = the first recipe stage)
    name: str
    stage_dir: Path  # the stage's (partial) folder: files written here are the stage's
    run_dir: Path
    log: SiteLog
    measure: MeasureSpec
    console: Console | None
    world_size: int
    rank: int
    dist: Any  # toolkit.distributed.Dist, or None in one process
    data_key: str  # identity of the data: part of derived caches' keys
    cache_ok: bool  # False: no derived cache may be reused (in-memory inputs)
    memo: dict[str, Any]  # values computed once per stage (e.g. a latency search's baseline timer)

    @property
    def is_main(self) -> bool: ...
    @property
    def options_path(self) -> str: ...
    def example_input(self, batch_size: int = 1) -> torch.Tensor: ...
    def run_hooks(self, event: str, **payload: Any) -> None: ...
    def wrap_for_training(self, model: nn.Module, sync_batchnorm: bool = False) -> nn.Module: ...

