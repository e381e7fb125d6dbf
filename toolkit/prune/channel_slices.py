"""Slices of a feature map's channels by bounds the model's code keeps: `x[:, 0:self.in_channels]` in timm's ReXNet
blocks (a partial residual over the first in_channels channels); and splits of its channels into parts
(`x.split(self.expand_chs // 2, dim=1)` in timm's CSP stages, `torch.split(x, self.splits, 1)` in MixNet's mixed
convolutions), where Torch-Pruning's index bookkeeping can fail.

Once the layer that made `x` loses channels, the slice takes other channels than the code meant (or no longer
fits what it is added to), and Torch-Pruning 1.6 spends many minutes grouping the channels of such a graph before
it fails. The prune stage therefore refuses a model with such a slice on a layer it would prune before running
Torch-Pruning, naming the slice and the layer to keep whole (`prune.ignore`).
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.prune.failing_call import FailingCall, PruneBlocked
from toolkit.prune.trace import Call, traced_forward


def _slice_text(part: slice) -> str:
    return ":".join("" if v is None else str(v) for v in (part.start, part.stop)) + \
        (f":{part.step}" if part.step not in (None, 1) else "")


def channel_slices(model: nn.Module, example: torch.Tensor) -> list[FailingCall]:
    """Every `x[:, a:b]` on an (N, C, H, W) feature map that does not take all C channels, with the module whose
    forward makes it and the layer that produced `x` (op 'slice'); one forward on `example`. Slices of a model's
    input (no producing layer) are left out: pruning never changes them."""
    found: list[FailingCall] = []

    def on_call(call: Call) -> None:
        if call.name != "__getitem__" or len(call.args) < 2 or call.producer is None:
            return
        tensor, index = call.args[0], call.args[1]
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4 or not isinstance(index, tuple) \
                or len(index) < 2 or not isinstance(index[0], slice) or index[0] != slice(None) \
                or not isinstance(index[1], slice):
            return
        channels = tensor.shape[1]
        taken = range(*index[1].indices(channels))
        if len(taken) == channels:
            return
        entry = FailingCall("slice", call.module, call.producer,
                            f"x[:, {_slice_text(index[1])}] takes {len(taken)} of {channels} channels")
        if entry not in found:
            found.append(entry)

    traced_forward(model, example, on_call)
    return found


SPLITS = ("split", "chunk", "split_with_sizes", "tensor_split", "unbind")


def channel_splits(model: nn.Module, example: torch.Tensor) -> list[FailingCall]:
    """Every split of an (N, C, H, W) feature map's channels into parts (op 'split', 'chunk', ...), once per
    producing layer, with the module whose forward makes it; one forward on `example`. Splits of the model's input
    (no producing layer) are left out."""
    found: dict[str, FailingCall] = {}

    def on_call(call: Call) -> None:
        if call.name not in SPLITS or call.producer is None or call.producer in found or not call.args:
            return
        tensor = call.args[0]
        dim = call.args[2] if len(call.args) > 2 else call.kwargs.get("dim", 0)
        if call.name == "unbind":
            dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim", 0)
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4 or dim not in (1, -3):
            return
        found[call.producer] = FailingCall(call.name, call.module, call.producer,
                                           f"{call.name} over the {tensor.shape[1]} channels of {call.producer}")

    traced_forward(model, example, on_call)
    return list(found.values())


def refuse_kept_slices(model: nn.Module, example: torch.Tensor, ignored: list[nn.Module]) -> None:
    """Raise PruneBlocked (before=True) for the first channel slice whose producing layer is not in `ignored`;
    the message names the other modules with such slices. Nothing when every such layer is kept whole."""
    wrapped = type(model).__name__ == "LogitsOutput"
    kept = {name.removeprefix("model.") if wrapped else name for name, m in model.named_modules() if m in ignored}
    blocked = [s for s in channel_slices(model, example) if s.producer not in kept]
    if blocked:
        places = list(dict.fromkeys(s.module or "(model forward)" for s in blocked))
        raise PruneBlocked(blocked[0], before=True, others=places[1:])
