"""Parameters and MACs of a torch model, counted by Torch-Pruning on a real input shape."""

from __future__ import annotations

import copy

import torch
from torch import nn


def count_macs_params(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """(MACs, parameters) for one image of `example`'s shape."""
    import torch_pruning as tp

    probe = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        macs, params = tp.utils.count_ops_and_params(probe, example[:1].cpu())
    return int(macs), int(params)
