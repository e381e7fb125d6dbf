"""`round_to: auto`'s whole-network check: a layer probe that sees no block size is overruled when the network,
cut to the same MACs at each finalist multiple, runs faster at the table's multiple (measured on AMX: a lone
INT8 convolution was flat, the INT8 ResNet-20 at multiples of 1 ran at half the MACs per ms of 16)."""

from __future__ import annotations

import pytest
import torch
from noisy_runtime import noisy_runtime
from torch import nn

import toolkit.prune.round_to as round_to
from toolkit.prune.precision import PruneFacts
from toolkit.prune.round_to import choose_round_to

FP32 = PruneFacts(precision="fp32", precision_reason="test")


@pytest.fixture(autouse=True)
def quick_quiet_probe_with_a_table_of_16(monkeypatch):
    import toolkit.measure.system as system
    from toolkit.config import MeasureSpec

    monkeypatch.setattr(system, "busy", lambda notes: False)
    monkeypatch.setattr(round_to, "PROBE_TIMING", MeasureSpec(warmup_s=0.0, min_iters=3, min_time_s=0.0,
                                                              max_time_s=0.2))
    monkeypatch.setattr(round_to, "fallback_multiple", lambda device, precision: (16, "a table of 16"))


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def off_block_pays_between_layers(model: nn.Module) -> float:
    """A lone convolution costs its channels (a flat layer probe); in a network, every convolution whose
    output is off a block of 16 costs twice (the reorders and lost fusions between layers)."""
    convs = _convs(model)
    if len(convs) == 1:
        return convs[0].out_channels * 0.01
    return sum(c.out_channels * c.in_channels * (1 if c.out_channels % 16 == 0 else 2) for c in convs) * 1e-4


def macs_only(model: nn.Module) -> float:
    return sum(c.out_channels * c.in_channels for c in _convs(model)) * 1e-4


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 4)).eval()


def test_a_network_that_pays_off_block_overrules_a_flat_layer_probe_and_says_so(tmp_path):
    with noisy_runtime("between-layers", sigma=0.002, cost_ms=off_block_pays_between_layers):
        record = choose_round_to(_net(), torch.randn(1, 3, 8, 8), "between-layers", 1, FP32, tmp_path,
                                 lambda _: None, num_classes=4)
    assert record["layer_probe_value"] == 1 and record["value"] == 16
    rows = {r["multiple"]: r for r in record["network_check"]["rows"]}
    assert set(rows) == {1, 16} and rows[16]["score"] == 1.0 and rows[1]["score"] < 0.8
    # cut to the same MACs as near as each multiple's staircase allows (16-48-48 channels is the nearest at 16)
    assert 1.4 < rows[1]["macs_speedup"] < 1.6 and 1.4 < rows[16]["macs_speedup"] < 2.1
    assert "the layer probe's 1 was overruled" in record["reason"] and "whole network" in record["reason"]
    with noisy_runtime("between-layers", sigma=0.002, cost_ms=macs_only):  # cached per network and machine
        assert choose_round_to(_net(), torch.randn(1, 3, 8, 8), "between-layers", 1, FP32, tmp_path,
                               lambda _: None, num_classes=4)["how"] == "cached"


def test_a_network_that_runs_by_its_macs_keeps_the_smaller_multiple():
    with noisy_runtime("by-macs", sigma=0.002, cost_ms=macs_only):
        record = choose_round_to(_net(), torch.randn(1, 3, 8, 8), "by-macs", 1, FP32, None, lambda _: None,
                                 num_classes=4)
    assert record["value"] == 1 and record["layer_probe_value"] == 1 and "overruled" not in record["reason"]


def test_without_the_class_count_or_when_the_check_fails_the_layer_probe_decides(monkeypatch):
    with noisy_runtime("between-layers", sigma=0.002, cost_ms=off_block_pays_between_layers):
        plain = choose_round_to(_net(), torch.randn(1, 3, 8, 8), "between-layers", 1, FP32, None, lambda _: None)
        assert plain["value"] == 1 and "network_check" not in plain
        import toolkit.prune.round_to_network as network

        def broken(*args, **kwargs):
            raise RuntimeError("exporter crashed")

        monkeypatch.setattr(network, "network_check", broken)
        lines: list[str] = []
        record = choose_round_to(_net(), torch.randn(1, 3, 8, 8), "between-layers", 1, FP32, None, lines.append,
                                 num_classes=4)
    assert record["value"] == 1 and record["network_check"] == {"error": "RuntimeError: exporter crashed"}
    assert any("whole-network check failed (RuntimeError: exporter crashed); keeping 1" in line for line in lines)
