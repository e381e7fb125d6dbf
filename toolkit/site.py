"""What technique code that trains gets instead of the stage's context: a small, explicit `TrainingEnv`.

A technique (the training loop, distillation, slimming, QAT) takes its model, its options and, where it trains,
a `TrainingEnv`, as Torch-Pruning's pruners take a model and example inputs and `nncf.quantize` takes a model and
a data set: data, device, the distributed handle, the log, the checkpoint folder and the epoch hook, nothing
else. Only a technique's `stage.py` sees the stage's context (`toolkit.context.StageContext.training_env()`
builds this); a test builds one directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch
    from rich.console import Console
    from torch import nn

    from toolkit.data import DataBundle
    from toolkit.distributed import Dist


class SiteLog(Protocol):
    """Where a technique's lines go (the stage's log.txt and the console)."""

    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...


@dataclass
class TrainingEnv:
    """Everything the training loop needs besides the model and its options.

    `checkpoint_dir` holds the epoch checkpoints (`<tag>.ckpt`, resumed after an interruption); `name`
    ('prune') titles the progress bars and `label` ('02-prune') names the stage in messages; `options_path`
    ('stages[1].prune') is where a diverging run's options live in the recipe; `epoch_end(epoch=, record=)`
    runs after each epoch."""

    data: DataBundle
    device: torch.device
    log: SiteLog
    checkpoint_dir: Path
    seed: int
    name: str = "train"
    label: str = "01-train"
    options_path: str = "stages[0].train"
    dist: Dist | None = None  # several processes: rank 0 writes, every rank trains its share
    console: Console | None = None
    epoch_end: Callable[..., None] | None = None

    @property
    def rank(self) -> int:
        """This process's rank (0 in one process)."""
        return self.dist.rank if self.dist is not None else 0

    @property
    def world_size(self) -> int:
        """How many processes train together (1 in one process)."""
        return self.dist.world_size if self.dist is not None else 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    def wrap_for_training(self, model: nn.Module, sync_batchnorm: bool = False) -> nn.Module:
        """The module the training loop calls (DistributedDataParallel when several processes train)."""
        if self.dist is None:
            return model
        from toolkit.distributed import wrap_ddp

        if sync_batchnorm and self.dist.backend != "nccl":
            self.log.warning("sync_batchnorm needs CUDA (torch's SyncBatchNorm); each process keeps its own "
                             "BatchNorm statistics here")
        return wrap_ddp(model, self.dist, sync_batchnorm)

    def after_epoch(self, **payload: Any) -> None:
        """Run the epoch hook, if any."""
        if self.epoch_end is not None:
            self.epoch_end(**payload)
