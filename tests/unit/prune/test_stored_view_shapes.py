"""A layer scale that views its parameter through a stored shape (timm's MetaFormer `Scale`: `self.shape =
(dim, 1, 1)`) keeps running after its channels are pruned: the stored broadcast shape follows the parameter."""

from __future__ import annotations

import torch
from torch import nn

from toolkit.prune import PrunePlan, channel_counts, prune_once
from toolkit.prune.stored_shapes import mend_view_shapes, own_lengths


class Scale(nn.Module):
    """timm.models.metaformer.Scale in small."""

    def __init__(self, dim: int):
        super().__init__()
        self.shape = (dim, 1, 1)
        self.keep_me = (dim, 3)  # not a broadcast shape: never changed
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.view(self.shape)


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), Scale(32), nn.ReLU(), nn.Conv2d(32, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def test_a_pruned_layer_scale_keeps_its_stored_shape_in_step_and_the_model_runs():
    model, x = _net().eval(), torch.randn(1, 3, 16, 16)
    prune_once(model, x, PrunePlan(round_to=None, num_classes=10), 0.5)
    kept = channel_counts(model)["0"]
    assert kept < 32 and model[1].scale.shape == (kept,) and model[1].shape == (kept, 1, 1)
    assert model[1].keep_me == (32, 3)
    assert model(x).shape == (1, 10)


def test_only_broadcast_shapes_of_a_parameter_that_changed_length_are_mended():
    model = _net()
    before = own_lengths(model)
    assert mend_view_shapes(model, before) == []  # nothing pruned: nothing changed
    model[1].scale = nn.Parameter(model[1].scale.data[:20])
    assert mend_view_shapes(model, before) == ["1.shape"] and model[1].shape == (20, 1, 1)
