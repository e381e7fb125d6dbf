"""Conv subclasses with a per-output-channel parameter of their own (timm's ScaledStdConv2d `gain`, in NF-ResNets):
Torch-Pruning would cut the weight and leave the parameter, so the pruned model stops running. The prune stage
refuses them first, naming every such layer; `compress inspect` suggests keeping them all whole and tests it."""

from __future__ import annotations

import pytest
import torch
from stored_split import gain_conv_net

from toolkit.prune import PrunePlan, channel_counts, prune_once
from toolkit.prune.failing_call import PruneBlocked
from toolkit.prune.inspect import inspect_model

EXAMPLE = torch.randn(1, 3, 16, 16)


def test_the_prune_refuses_a_layer_whose_own_parameter_torch_pruning_would_leave_behind():
    with pytest.raises(PruneBlocked, match=r"GainConv2d keeps 'gain' \(16, 1, 1, 1\) beside its weight") as caught:
        prune_once(gain_conv_net(), EXAMPLE, PrunePlan(round_to=None, num_classes=10), 0.5)
    assert caught.value.call.producer == "0" and caught.value.others == ["6"]
    assert 'add "0" to prune.ignore' in str(caught.value) and "(and 1 more like it: 6)" in str(caught.value)


def test_with_those_layers_kept_whole_the_rest_is_pruned_and_still_runs():
    model = prune_once(gain_conv_net(), EXAMPLE, PrunePlan(round_to=None, num_classes=10, ignore=["0", "6"]), 0.5)
    counts = channel_counts(model)
    assert counts["0"] == 16 and counts["6"] == 32 and counts["2"] < 32
    assert model(EXAMPLE).shape == (1, 10)


def test_inspect_suggests_every_such_layer_and_says_what_is_left():
    report = inspect_model(gain_conv_net(), EXAMPLE, 10)
    assert not report["prunable"] and report["suggested"]["ignore"] == ["0", "6"]
    assert any("GainConv2d keeps 'gain'" in item["why"] for item in report["blocking"])
    assert "a second test prune with ignore: ['0', '6'] works" in " ".join(report["notes"])


def test_an_ignore_list_that_leaves_nothing_to_prune_is_tried_but_not_suggested():
    class AllGain(torch.nn.Sequential):
        pass

    from stored_split import GainConv2d

    model = AllGain(GainConv2d(3, 16, 3, padding=1), torch.nn.ReLU(), GainConv2d(16, 16, 3, padding=1),
                    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10))
    report = inspect_model(model, EXAMPLE, 10)
    assert "ignore" not in report["suggested"] and report["suggested"]["test_prune"]["removed_nothing"]
    assert "a second test prune with ignore: ['0', '2'] still fails (it removes nothing" in " ".join(report["notes"])
