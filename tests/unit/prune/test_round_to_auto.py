"""`round_to: auto` (issue 30, item 2): the channel multiple is chosen by timing a layer of the model at
neighbouring channel counts on the target runtime and precision, cached per machine, with a table where nothing
can be timed."""

from __future__ import annotations

import math

import pytest
import torch
from noisy_runtime import noisy_runtime
from torch import nn

from toolkit.errors import RecipeError
from toolkit.prune.precision import PruneFacts
from toolkit.prune.round_to import (choose_round_to, fallback_multiple, largest_allowed, largest_conv, pick_multiple,
                                    probe_counts, score_multiples)
from toolkit.recipe import parse_recipe

FP32 = PruneFacts(precision="fp32", precision_reason="test")
NAME = "blocks-of-16"


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch):
    """The suite itself loads the machine; these tests check what a quiet one gives (busy: its own test)."""
    import toolkit.measure.system as system

    monkeypatch.setattr(system, "busy", lambda notes: False)


@pytest.fixture(autouse=True)
def quick_probe_timing(monkeypatch):
    """The fake runtime's timings are exact: a few runs per count are enough (the real ones take ~5 s a probe)."""
    import toolkit.prune.round_to as round_to
    from toolkit.config import MeasureSpec

    monkeypatch.setattr(round_to, "PROBE_TIMING", MeasureSpec(warmup_s=0.0, min_iters=3, min_time_s=0.0,
                                                              max_time_s=0.2))


@pytest.mark.parametrize(("block", "expected"), [(8, 8), (16, 16), (1, 1)])
def test_the_multiple_is_the_block_a_staircase_of_latencies_shows(block, expected):
    counts = probe_counts(64)
    p50 = [math.ceil(n / block) * block * 0.01 for n in counts]
    assert pick_multiple(score_multiples(counts, p50)) == expected


def _blocks_of_16_ms(model: nn.Module) -> float:
    """A kernel that computes 16 channels at a time: a count past a block pays the whole block."""
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return math.ceil(conv.out_channels / 16) * 16 * 0.01


def blocks_of_16():
    return noisy_runtime(NAME, sigma=0.005, cost_ms=_blocks_of_16_ms)


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 64, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 4))


def test_the_measured_multiple_is_recorded_with_its_numbers_and_cached_per_machine(tmp_path):
    lines = []
    with blocks_of_16():
        first = choose_round_to(_net(), torch.randn(1, 3, 8, 8), NAME, 1, FP32, tmp_path, lines.append)
        again = choose_round_to(_net(), torch.randn(1, 3, 8, 8), NAME, 1, FP32, tmp_path, lines.append)
    assert first["value"] == 16 and first["how"] == "measured"
    assert first["layer"]["layer"] == "2" and len(first["counts"]) == len(first["p50_ms"])  # the largest conv
    assert "multiples of 16" in first["reason"] and first["precision"] == "fp32"
    assert again["how"] == "cached" and again["value"] == 16 and len(list(tmp_path.glob("*.json"))) == 1


def test_a_runtime_that_cannot_be_timed_here_takes_the_tensor_core_table():
    record = choose_round_to(_net(), torch.randn(1, 3, 8, 8), "tensorrt", 1,
                             PruneFacts(precision="int8", precision_reason="test", scheme="tensorrt"), None,
                             lambda _: None)
    assert record["how"] == "table" and record["value"] == 16 and "Tensor Core" in record["reason"]
    assert fallback_multiple("cuda", "fp16")[0] == 8 and fallback_multiple("cuda", "fp32")[0] == 4


def test_the_cpu_table_follows_the_simd_width(monkeypatch):
    import toolkit.measure.device as device

    for isa, expected in ((["avx2", "avx512f"], 16), (["avx2", "fma"], 8), (["neon"], 4)):
        monkeypatch.setattr(device, "describe_device", lambda isa=isa: {"isa": isa})
        assert fallback_multiple("cpu", "fp32")[0] == expected


@pytest.mark.parametrize(("runtime", "precision", "why"), [
    ("torch-cpu", "int8", "cannot run INT8 Q/DQ models"),  # would time fp32 torch convs and call them int8
    ("onnxruntime-cpu", "fp16", "does not run fp16 models"),
])
def test_a_precision_the_runtime_cannot_run_takes_the_table_instead_of_a_wrong_measurement(runtime, precision, why):
    facts = PruneFacts(precision=precision, precision_reason="test", scheme="cpu" if precision == "int8" else None)
    record = choose_round_to(_net(), torch.randn(1, 3, 8, 8), runtime, 1, facts, None, lambda _: None)
    assert record["how"] == "table" and why in record["reason"]


def test_models_without_an_inner_dense_convolution_take_the_table():
    depthwise = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3, groups=8), nn.Flatten(), nn.LazyLinear(4))
    for model in (nn.Sequential(nn.Flatten(), nn.Linear(192, 4)), depthwise):
        with blocks_of_16():
            record = choose_round_to(model, torch.randn(1, 3, 8, 8), NAME, 1, FP32, None, lambda _: None)
        assert record["how"] == "table" and "no inner dense convolution" in record["reason"]


def test_the_probe_layer_is_an_inner_convolution_with_its_padding_and_dilation():
    model = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3),  # the stem: most MACs, reads the image
                          nn.Conv2d(64, 32, 3, padding="same", dilation=2), nn.Conv2d(32, 16, 3, padding="valid"))
    layer = largest_conv(model, torch.randn(1, 3, 32, 32))
    assert layer["layer"] == "1" and layer["padding"] == [2, 2] and layer["dilation"] == [2, 2]
    assert largest_conv(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3, padding="valid")),
                        torch.randn(1, 3, 8, 8))["padding"] == [0, 0]


@pytest.mark.parametrize("content", ['{"value": true, "key": "K"}', '{"value": 0, "key": "K"}', '{"value": 999}',
                                     '{"value": 32, "key": "K"}',  # over the cap: a quarter of 64 channels
                                     "[]", "not json"])
def test_a_cache_file_that_is_not_ours_is_measured_again(tmp_path, content):
    with blocks_of_16():
        first = choose_round_to(_net(), torch.randn(1, 3, 8, 8), NAME, 1, FP32, tmp_path, lambda _: None)
        [cache] = tmp_path.glob("*.json")
        cache.write_text(content.replace("K", first["key"]))
        again = choose_round_to(_net(), torch.randn(1, 3, 8, 8), NAME, 1, FP32, tmp_path, lambda _: None)
    assert again["how"] == "measured" and again["value"] == 16


def test_a_probe_that_fails_to_time_gives_the_table_and_the_stream_of_random_numbers_is_untouched(monkeypatch):
    import toolkit.prune.round_to as round_to

    def failing(*args, **kwargs):
        raise RuntimeError("the quantizer broke")

    net, image = _net(), torch.randn(1, 3, 8, 8)
    with blocks_of_16():
        torch.manual_seed(5)
        choose_round_to(net, image, NAME, 1, FP32, None, lambda _: None)
        after_measuring = torch.rand(1)
        torch.manual_seed(5)
        assert torch.equal(torch.rand(1), after_measuring)
        monkeypatch.setattr(round_to, "_time_counts", failing)
        record = choose_round_to(_net(), torch.randn(1, 3, 8, 8), NAME, 1, FP32, None, lambda _: None)
    assert record["how"] == "table" and "RuntimeError: the quantizer broke" in record["reason"]


def test_auto_is_accepted_and_other_words_are_refused(tiny):
    stage = parse_recipe(tiny(stages=[{"prune": {"round_to": "auto", "target": {"macs_speedup": 1.5,
                                                                                 "precision": "int8"}}}])).stages[0]
    assert stage.round_to == "auto" and stage.resolved.precision == "int8"
    with pytest.raises(RecipeError, match="round_to") as info:
        parse_recipe(tiny(stages=[{"prune": {"round_to": "fast"}}]))
    assert "1 problem(s)" in str(info.value) and "auto (measured) or null (got 'fast')" in str(info.value)


def test_auto_never_picks_a_multiple_that_leaves_the_widest_layer_under_four_sizes():
    """A kernel that blocks by 32 on a model whose widest layer has 32 channels (seen in CI on a small ResNet): 32
    scores best, but it would keep every layer whole, so auto stops at a quarter of the widest."""
    counts = probe_counts(32)
    p50 = [math.ceil(n / 32) * 32 * 0.01 for n in counts]
    scores = score_multiples(counts, p50)
    assert max(scores, key=scores.__getitem__) == 32 and pick_multiple(scores) == 32
    assert pick_multiple(scores, cap=largest_allowed(32)) == 8 and largest_allowed(32) == 8
    assert largest_allowed(3) == 1 and pick_multiple({1: 1.0, 2: 1.2}, cap=1) == 1


def test_a_capped_choice_says_which_multiple_scored_best_and_why_it_was_not_kept(tmp_path):
    def blocks_of_32_ms(model: nn.Module) -> float:
        conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        return math.ceil(conv.out_channels / 32) * 32 * 0.01

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 32, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4))
    with noisy_runtime("blocks-of-32", sigma=0.005, cost_ms=blocks_of_32_ms):
        record = choose_round_to(net, torch.randn(1, 3, 8, 8), "blocks-of-32", 1, FP32, tmp_path, lambda _: None)
    assert record["value"] == 8 and record["largest_allowed"] == 8
    assert "32 scored best" in record["reason"] and "auto stops at 8" in record["reason"]


def test_a_choice_timed_on_a_busy_machine_says_so_and_is_not_cached(tmp_path, monkeypatch):
    import toolkit.measure.system as system

    monkeypatch.setattr(system, "busy", lambda notes: True)
    monkeypatch.setattr(system, "system_notes", lambda: {"load_avg": [5.0, 4.0, 3.0], "logical_cpus": 2})
    with blocks_of_16():
        record = choose_round_to(_net(), torch.randn(1, 3, 8, 8), NAME, 1, FP32, tmp_path, lambda _: None)
    assert record["value"] == 16 and "busy machine (load 5 on 2 CPUs)" in record["reason"]
    assert record["system"]["before"]["load_avg"][0] == 5.0 and record["system"]["after"]["load_avg"][0] == 5.0
    assert not list(tmp_path.glob("*.json"))
