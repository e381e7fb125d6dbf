"""Conv subclasses with a per-output-channel parameter of their own (timm's ScaledStdConv2d `gain`, in NF-ResNets):
Torch-Pruning cuts the weight and would leave the parameter, so the pruner cuts it at the same channels."""

from __future__ import annotations

import copy

import pytest
import torch
from stored_split import GainConv2d, gain_conv_net

from toolkit.prune import PrunePlan, channel_counts, prune_once
from toolkit.prune.grouped import GroupAwarePruner
from toolkit.prune.channels import make_importance
from toolkit.prune.inspect import inspect_model

EXAMPLE = torch.randn(1, 3, 16, 16)


def _distinct_gains(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, GainConv2d):
                module.gain.copy_(torch.arange(1, module.out_channels + 1, dtype=torch.float).view(-1, 1, 1, 1))
    return model


def test_the_gain_loses_the_same_output_channels_as_the_weight():
    torch.manual_seed(0)
    model = _distinct_gains(gain_conv_net())
    before = copy.deepcopy(model)
    prune_once(model, EXAMPLE, PrunePlan(round_to=None, num_classes=10), 0.5)
    stem = model[0]
    assert stem.out_channels < 16 and stem.gain.shape == (stem.out_channels, 1, 1, 1)
    # each kept channel keeps its own gain: gains were 1..16, so the kept ones name the kept channels
    kept = [int(g) - 1 for g in stem.gain.flatten()]
    assert torch.equal(stem.weight, before[0].weight[kept])
    # the stem's input is the image (not pruned): its kept output channels compute exactly what they did
    assert torch.allclose(stem(EXAMPLE), before[0](EXAMPLE)[:, kept], atol=1e-6)
    assert model(EXAMPLE).shape == (1, 10) and model[6].gain.shape[0] == model[6].out_channels


def test_inspect_calls_such_a_model_prunable_and_suggests_no_ignore_list():
    report = inspect_model(gain_conv_net(), EXAMPLE, 10)
    assert report["prunable"] and "ignore" not in report.get("suggested", {})
    counts = channel_counts(prune_once(gain_conv_net(), EXAMPLE, PrunePlan(round_to=None, num_classes=10), 0.5))
    assert counts["0"] < 16 and counts["6"] < 32


def test_pruning_groups_yourself_is_refused_since_the_gain_would_stay_behind():
    model = gain_conv_net()
    pruner = GroupAwarePruner(model, EXAMPLE, importance=make_importance("l2"), pruning_ratio=0.5)
    with pytest.raises(ValueError, match="without interactive"):
        pruner.step(interactive=True)
