"""`prune.target.precision` (issue 30, item 1): a latency target is timed in the precision the recipe ships, on
candidates quantized with the recipe's own scheme; a runtime that cannot run that precision stops validation."""

from __future__ import annotations

import onnx
import pytest
import torch
from torch import nn

from toolkit.artifacts import ONNX, ONNX_INT8
from toolkit.config import MeasureSpec
from toolkit.errors import RecipeError, ToolkitError
from toolkit.prune.latency_probe import ProbeTimer
from toolkit.prune.precision import ProbeConverter, PruneFacts, precision_plan
from toolkit.recipe import parse_recipe

LATENCY = {"latency_speedup": 1.5, "runtime": "onnxruntime-cpu"}
QUICK = MeasureSpec(warmup_s=0.0, min_iters=3, min_time_s=0.0, max_time_s=0.5)


def _prune_facts(raw: dict) -> PruneFacts:
    recipe = parse_recipe(raw)
    return next(s for s in recipe.stages if s.stage_type == "prune").resolved


def test_the_default_precision_is_the_one_the_recipe_ships(tiny):
    with_quantize = _prune_facts(tiny(stages=[{"prune": {"target": LATENCY}}, {"quantize": {"scheme": "openvino"}}]))
    assert (with_quantize.precision, with_quantize.scheme, with_quantize.backend) == ("int8", "openvino", "auto")
    assert "quantize stage 'quantize' follows" in with_quantize.precision_reason
    alone = _prune_facts(tiny(stages=[{"prune": {"target": LATENCY}}]))
    assert (alone.precision, alone.scheme) == ("fp32", None) and "no quantize stage follows" in alone.precision_reason
    # an fp16 engine after it: fp16 (refused here: onnxruntime-cpu does not run fp16)
    with pytest.raises(RecipeError, match="fp16 .the recipe ships fp16: an fp16 engine stage follows"):
        parse_recipe(tiny(stages=[{"prune": {"target": LATENCY}}, {"export": {}}, {"engine": {"precision": "fp16"}}]))


def test_an_explicit_precision_wins_and_is_part_of_the_cache_key(tiny):
    raw = tiny(stages=[{"prune": {"target": {**LATENCY, "precision": "fp32"}}}, {"quantize": {}}])
    recipe = parse_recipe(raw)
    stage = recipe.stages[0]
    assert stage.resolved.precision == "fp32" and stage.resolved.precision_reason == "set in the recipe"
    default = parse_recipe(tiny(stages=[{"prune": {"target": LATENCY}}, {"quantize": {}}])).stages[0]
    assert stage.facts_key() != default.facts_key()
    # a target without a precision keeps the key it had before the option existed
    assert "precision" not in default.key_dict()["target"]
    # the key holds the precision and scheme, not the sentence saying why: renaming the quantize stage keeps it
    renamed = parse_recipe(tiny(stages=[{"prune": {"target": LATENCY}}, {"quantize": {"name": "int8"}}])).stages[0]
    assert renamed.resolved.precision_reason != default.resolved.precision_reason
    assert renamed.facts_key() == default.facts_key() == {"precision": "int8", "scheme": "cpu", "backend": "auto",
                                                          "per_channel": True}


def test_counted_targets_take_no_precision_and_resolve_nothing(tiny):
    with pytest.raises(RecipeError, match="counted, not timed: drop precision"):
        parse_recipe(tiny(stages=[{"prune": {"target": {"macs_speedup": 2.0, "precision": "int8"}}}]))
    assert parse_recipe(tiny(stages=[{"prune": {}}, {"quantize": {}}])).stages[0].resolved is None


@pytest.mark.parametrize(("target", "stages_after", "message"), [
    ({"runtime": "torch-cpu"}, [{"quantize": {}}], "torch-cpu cannot run INT8 Q/DQ models"),
    ({"runtime": "onnxruntime-cpu", "precision": "fp16"}, [], "onnxruntime-cpu does not run fp16 models"),
])
def test_a_runtime_that_cannot_run_the_precision_is_refused_before_compute(tiny, target, stages_after, message):
    raw = tiny(stages=[{"prune": {"target": {"latency_speedup": 1.5, **target}}}, *stages_after])
    with pytest.raises(RecipeError, match=message) as info:
        parse_recipe(raw)
    assert "stages[0].prune.target.precision" in str(info.value)


def test_sensitivity_allocation_times_fp32_and_refuses_int8(tiny):
    sensitivity = {"target": LATENCY, "allocation": "sensitivity"}
    assert _prune_facts(tiny(stages=[{"prune": sensitivity}, {"quantize": {}}])).precision == "fp32"
    with pytest.raises(RecipeError, match="times its latency table in fp32 only"):
        parse_recipe(tiny(stages=[{"prune": {**sensitivity, "target": {**LATENCY, "precision": "int8"}}}]))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, 4)).eval()


@pytest.mark.parametrize("scheme", ["cpu", "openvino"])
def test_probes_and_their_baseline_are_timed_as_int8_models_of_the_scheme(scheme):
    facts = PruneFacts(precision="int8", precision_reason="test", scheme=scheme)
    converter = ProbeConverter(facts, [torch.randn(8, 3, 16, 16) for _ in range(2)])
    timer = ProbeTimer(_net(), "onnxruntime-cpu", 2, torch.randn(1, 3, 16, 16), timing=QUICK, rounds=2,
                       convert=converter)
    smaller = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(8, 4)).eval()
    result = timer.measure(smaller)
    assert result["speedup"] > 0 and result["base_ms"] > 0
    timed = list(timer._converted.values())
    assert len(timed) == 2 and all(a.format == ONNX_INT8 for a in timed)  # the probe and the baseline
    for artifact in timed:
        ops = {node.op_type for node in onnx.load(str(artifact.path)).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    timer.measure(smaller, fresh=True)  # timed again: each network was quantized once
    assert len(timer._converted) == 2 and converter.seconds > 0


def test_fp16_probes_keep_fp32_inputs(tmp_path):
    from toolkit.convert.onnx import export_onnx

    path = tmp_path / "net.onnx"
    export_onnx(_net(), path, torch.randn(1, 3, 16, 16))
    artifact = ProbeConverter(PruneFacts(precision="fp16", precision_reason="test"), [])(path)
    model = onnx.load(str(artifact.path))
    assert artifact.format == ONNX
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)


def test_a_plan_outside_a_recipe_still_refuses_a_precision_the_runtime_lacks():
    with pytest.raises(ToolkitError, match="torch-cpu cannot run INT8"):
        precision_plan(PruneFacts(precision="int8", precision_reason="test", scheme="cpu"), "torch-cpu", None, 0)
    assert precision_plan(PruneFacts(precision="fp32", precision_reason="test"), "onnxruntime-cpu", None, 0
                          ).converter is None
