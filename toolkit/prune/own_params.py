"""Conv and Linear subclasses that keep a per-output-channel parameter beside their weight: timm's ScaledStdConv2d
(NF-ResNet, NFNet) keeps `gain` (C_out, 1, 1, 1) and uses it to standardise its weight on every forward.

Torch-Pruning prunes a Conv2d subclass as a Conv2d: its weight, bias and `out_channels`, never the subclass's own
parameters, so on its own the pruned layer's forward fails (`weight should contain 32 elements not 64`). The
pruner (toolkit.prune.grouped) cuts such a parameter at the output channels Torch-Pruning removes from the layer,
in the same step: `own_param_cuts` before the group is pruned, `apply_cuts` after.

A parameter is matched by its first dimension's length alone: one sized by the input channels of a layer with as
many inputs as outputs would be cut at the output positions (none known in timm; such a layer belongs in `ignore`).
ScaledStdConv2d's float `scale` (gamma / sqrt(fan-in)) keeps its value when input channels go, so the pruned layer
standardises as trained; the L1/L2 criteria rank its raw weight, which it standardises before use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from torch_pruning.dependency import DependencyGraph, Group

OWN = ("weight", "bias")


def _out_channels(module: nn.Module) -> int:
    return int(module.out_features if isinstance(module, nn.Linear) else module.out_channels)


def per_channel_keys(module: nn.Module) -> list[str]:
    """Names of `module`'s own parameters (besides weight and bias) whose first dimension is its output channels;
    empty for anything but a Conv/Linear (subclass)."""
    if not isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
        return []
    out = _out_channels(module)
    return [key for key, p in module.named_parameters(recurse=False)
            if key not in OWN and p.dim() >= 1 and p.shape[0] == out and out > 1]


def own_param_cuts(graph: DependencyGraph, group: Group) -> list[tuple[nn.Module, list[str], list[int]]]:
    """For each layer of a Torch-Pruning `group` that loses output channels and keeps per-channel parameters:
    (layer, parameter names, output channels kept). Call before `group.prune()`, which changes the counts."""
    cuts = []
    for dep, idxs in group:
        module = dep.target.module
        keys = per_channel_keys(module)
        if keys and graph.is_out_channel_pruning_fn(dep.handler):
            removed = set(int(i) for i in idxs)
            cuts.append((module, keys, [i for i in range(_out_channels(module)) if i not in removed]))
    return cuts


@torch.no_grad()
def apply_cuts(cuts: list[tuple[nn.Module, list[str], list[int]]]) -> None:
    """Keep only the listed output channels of each parameter (after Torch-Pruning pruned the layer's weight)."""
    for module, keys, keep in cuts:
        index = torch.tensor(keep, dtype=torch.long)
        for key in keys:
            param = getattr(module, key)
            if param.shape[0] == len(keep):  # already cut (a layer listed twice, or a Torch-Pruning that does it)
                continue
            setattr(module, key, nn.Parameter(param.data.index_select(0, index.to(param.device)).clone(),
                                              requires_grad=param.requires_grad))
