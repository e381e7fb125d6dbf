"""Divergence is an error: a non-finite loss or non-finite weights stop a training loop at once.

The loop hands every step's loss to `DivergenceWatch.observe`; the watch checks a device-side flag
(every step on the CPU, every `CUDA_CHECK_EVERY` steps on CUDA, so that the GPU is not synchronised
on each step), agrees with the other ranks of a distributed run (a MAX all-reduce of the flags, so
every rank stops at the same step and no rank is left waiting in a collective), and raises
`DivergenceError` naming the stage, epoch, step and learning rate, with what to change in the recipe.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from toolkit.errors import ToolkitError
from toolkit.finite import nonfinite_tensors
from toolkit.site import TrainingEnv

CUDA_CHECK_EVERY = 10  # steps between host syncs on CUDA (at most this many wasted steps after a NaN)


class DivergenceError(ToolkitError):
    """Training produced a non-finite loss or weights; the stage stops and keeps its last finite checkpoint.

    Every rank of a distributed run raises it at the same step (`collective`): rank 0 reports it.
    """

    collective = True


def options_path(base: str, tag: str) -> str:
    """Where the failing training options live in the recipe, e.g. `stages[2].prune.finetune`, from the
    stage's own options path (`stages[2].prune`) and the training's tag."""
    if tag.startswith("finetune"):
        return f"{base}.finetune"
    if tag == "sparsity":
        return f"{base}.sparsity (lr) and {base}.finetune"
    if tag == "qat":
        return f"{base}.qat"
    return base


class DivergenceWatch:
    """Notices the first non-finite loss of an epoch (see the module docstring)."""

    def __init__(self, env: TrainingEnv, tag: str, checkpoint: Path, lr_note: str = ""):
        self.env, self.tag, self.checkpoint, self.lr_note = env, tag, checkpoint, lr_note
        self.every = CUDA_CHECK_EVERY if env.device.type == "cuda" else 1
        self.pending: list[tuple[int, float, torch.Tensor]] = []

    def observe(self, loss: torch.Tensor, epoch: int, step: int, lr: float) -> None:
        """Record one step's loss (before backward); check when `every` steps are pending."""
        self.pending.append((step, lr, ~torch.isfinite(loss.detach()).all()))
        if len(self.pending) >= self.every:
            self.check(epoch)

    def check(self, epoch: int) -> None:
        """Raise DivergenceError if any pending step's loss was non-finite on any rank."""
        if not self.pending:
            return
        flags = torch.stack([flag for _, _, flag in self.pending]).to(torch.int32)
        if self.env.dist is not None:
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        hits = flags.nonzero()
        steps, self.pending = self.pending, []
        if len(hits):
            step, lr, _ = steps[int(hits[0])]
            self._fail(epoch, f"the loss became non-finite (NaN or inf) at step {step + 1}", lr)

    def check_weights(self, modules: list[nn.Module], epoch: int, lr: float) -> None:
        """After an epoch: raise DivergenceError if a weight or buffer (e.g. a BatchNorm variance) is non-finite."""
        self.check(epoch)
        bad = [name for module in modules for name in nonfinite_tensors(module)]
        if bad:
            self._fail(epoch, f"the weights became non-finite ({', '.join(bad)}) by the end of the epoch", lr)

    def _fail(self, epoch: int, what: str, lr: float) -> None:
        label = self.env.label
        kept = self._kept()
        where = options_path(self.env.options_path, self.tag)
        raise DivergenceError(
            f"stage {label} diverged ({self.tag}): {what} of epoch {epoch + 1}, learning rate {lr:.4g}{self.lr_note}. "
            f"{kept} Try a lower lr, a longer warmup_epochs or grad_clip (e.g. 1.0) in {where}, then run the "
            f"same command again: the stages before it are reused.")

    def _kept(self) -> str:
        try:
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True) \
                if self.checkpoint.is_file() else None
        except Exception:  # noqa: BLE001 - an unreadable checkpoint is simply not mentioned
            state = None
        if state is None:
            return "No epoch had finished, so no checkpoint was kept."
        return f"The last finite checkpoint (after epoch {state.get('epoch')}) is kept in {self.checkpoint}."
