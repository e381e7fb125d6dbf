"""timm's GhostNet with the defaults (round_to 8, max_layer_ratio 0.8): no layer is shredded (issue 33, item 2).

Before, `macs_speedup: 2` cut conv_stem 16 -> 2 and ghost convs 8 -> 1. Needs timm (an optional extra)."""

from __future__ import annotations

import pytest
import torch

from toolkit.prune import PrunePlan, channel_counts, prune_once


@pytest.mark.slow
def test_timm_ghostnet_keeps_round_to_in_every_layer_and_says_why_the_stem_stays_whole():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("ghostnet_100", num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    before = channel_counts(model)
    plan = PrunePlan(num_classes=10)
    prune_once(model, x, plan, 0.4)  # the ratio a 2x MACs target needs on it at 64 px
    after = channel_counts(model)
    broken = {n: (before[n], after[n]) for n in before if n != "classifier" and after[n] != before[n]
              and (after[n] % 8 or after[n] < 8 or after[n] < 0.2 * before[n])}
    assert broken == {}
    assert after["conv_stem"] == 16 and "round_to 8" in plan.kept_whole["conv_stem"]
    assert sum(after[n] < before[n] for n in before) > len(before) // 2
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
