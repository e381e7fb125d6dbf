"""Where a pruned model stops running: the operation that fails, the module whose forward calls it, and the layer
whose channels reach it.

Torch-Pruning changes a layer's channel count and the graph it traced, not the model's code: a forward that
splits a tensor by sizes it stored (`qkv.split([1, self.embed_dim, self.embed_dim], dim=1)` in timm's MobileViT-v2
attention), or reads a count from an attribute, fails once that layer is pruned. One forward pass is replayed
(`toolkit.prune.trace`), following each tensor back to the last Conv/Linear that produced it; when the forward
raises, that call is the blocking operation, and keeping its producer whole (`prune.ignore`) keeps the stored
sizes right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from toolkit.errors import UserInputError
from toolkit.prune.trace import traced_forward

# 'split_with_sizes expects split_sizes to sum exactly to 24 ...': PyTorch names the aten operation first
OP_IN_MESSAGE = re.compile(r"^([a-z_][a-z0-9_]*)(?:\(\))? (?:expects|expected|:)")


@dataclass
class FailingCall:
    """The call a forward pass failed in, or one that will fail once pruning changes channel counts.

    op: the operation ('split_with_sizes', 'slice'); module: the module whose forward made the call ('' for the
    model's own forward); producer: the last Conv/Linear whose output reached the call (None when none did);
    error: the exception's type and first line, or what the call does.
    """

    op: str
    module: str
    producer: str | None
    error: str

    def describe(self) -> str:
        """One line: what fails where, why pruning broke it, and the `prune.ignore` entry that avoids it."""
        where = f"in {self.module}" if self.module else "in the model's forward"
        fix = (f'add "{self.producer}" to prune.ignore (its channels then stay as the code expects)'
               if self.producer else "add the module to prune.ignore")
        return (f"blocked by {self.op} {where} (Torch-Pruning cannot prune through it: the model's code keeps "
                f"channel counts that pruning changes; {self.error}): {fix}")


def failing_call(model: nn.Module, example: torch.Tensor) -> FailingCall | None:
    """Run `model` on `example` (N, C, H, W) once in eval mode without gradients; None when it runs, else the
    call that raised (see FailingCall)."""
    exc, call = traced_forward(model, example)
    if exc is None:
        return None
    first = (str(exc).splitlines() or [""])[0][:200]
    found = OP_IN_MESSAGE.match(first)
    op = found.group(1) if found else call.name if call is not None else "forward"
    return FailingCall(op, call.module if call else "", call.producer if call else None,
                       f"{type(exc).__name__}: {first}")


class PruneBlocked(UserInputError):
    """Pruning is blocked by a known call (`call`): the pruned model no longer runs, or (`before=True`) the model
    keeps channel counts in its code that pruning would break, found before Torch-Pruning ran; `others`: more
    places like it."""

    def __init__(self, call: FailingCall, *, before: bool = False, others: list[str] | None = None):
        self.call, self.others = call, list(others or [])
        lead = "the model cannot be pruned as is" if before else "the pruned model no longer runs"
        more = f" (and {len(others)} more like it: {', '.join(others[:4])}{', ...' if len(others) > 4 else ''})" \
            if others else ""
        super().__init__(f"{lead}: {call.describe()}{more}")
