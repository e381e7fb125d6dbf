"""Several processes training one model (torch.distributed, launched by torchrun): who does what.

Training stages run on every rank under DistributedDataParallel, each rank on its share of the data.
Everything else (pruning, calibration, export, measurement, the report, every write to the run
folder) runs on rank 0 while the others wait at a barrier and then read rank 0's result from the run
folder. Several machines therefore need the run folder on a shared file system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch

# A rank that stops answering ends the run instead of hanging it. Generous, because the other ranks wait
# at a barrier while rank 0 alone builds engines, scans quantization sensitivity or measures latency.
DEFAULT_TIMEOUT_S = 4 * 3600


@dataclass
class Dist:
    """This process's place in a distributed run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and measures."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank."""
        torch.distributed.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's value on every rank (small Python objects: decisions, keys)."""
        box = [value if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        """Leave the process group."""
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def from_env(timeout_s: int | None = None) -> Dist | None:
    """Join the process group torchrun describes in the environment; None for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not torch.distributed.is_initialized():
        timeout = timedelta(seconds=timeout_s or int(os.environ.get("TOOLKIT_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S)))
        torch.distributed.init_process_group(backend=backend, timeout=timeout)
    return Dist(torch.distributed.get_rank(), torch.distributed.get_world_size(), local_rank, backend)


def wrap_ddp(model: torch.nn.Module, dist: Dist, sync_batchnorm: bool) -> torch.nn.Module:
    """DistributedDataParallel around the model (SyncBatchNorm first, when asked)."""
    from torch.nn.parallel import DistributedDataParallel

    if sync_batchnorm and dist.backend == "nccl":  # torch's SyncBatchNorm runs on CUDA only
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [dist.local_rank] if dist.backend == "nccl" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def revert_sync_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Put plain BatchNorm2d back where SyncBatchNorm was (same tensors), so saved models rebuild from code."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.SyncBatchNorm):
            plain = torch.nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                         child.track_running_stats)
            plain.weight, plain.bias = child.weight, child.bias
            plain.running_mean, plain.running_var = child.running_mean, child.running_var
            plain.num_batches_tracked = child.num_batches_tracked
            plain.train(child.training)
            setattr(module, name, plain)
        else:
            revert_sync_batchnorm(child)
    return module


def torchrun_command(nproc: int, args: list[str], extra: list[str] | None = None) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc_per_node N -m toolkit <args>` for one machine."""
    import sys

    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            *(extra or []), "-m", "toolkit", *args]
