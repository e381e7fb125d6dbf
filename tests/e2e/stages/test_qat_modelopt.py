"""QAT for the tensorrt scheme with ModelOpt's PyTorch quantization: calibration methods, TensorRT placement
(residual Adds quantized on the skip input, as ModelOpt's ONNX PTQ does), the torch.ao path for `cpu`, and the
recipe errors QAT gives before any compute."""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
import pytest
import torch
import torchvision

from toolkit.errors import RecipeError
from toolkit.convert.onnx import export_onnx
from toolkit.quantize.placement import check_placement, summarize
from toolkit.quantize.ptq import qdq_summary
from toolkit.quantize.qat_modelopt import prepare_qat
from toolkit.quantize.residual_qdq import share_residual_qdq
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from test_placement_families import FAMILIES, family_model  # noqa: E402

CPU = torch.device("cpu")


def quant_recipe(tiny, tmp_path, quantize):
    return tiny(stages=[{"train": {"epochs": 1}},
                        {"quantize": {"cache_dir": str(tmp_path / "calib"), **quantize}}])


def _input_amax(model) -> list[float]:
    from modelopt.torch.quantization.nn import TensorQuantizer

    return [float(q.amax.max()) for n, q in model.named_modules()
            if isinstance(q, TensorQuantizer) and n.endswith("input_quantizer") and q.is_enabled]


def test_each_calibration_method_sets_different_activation_ranges():
    torch.manual_seed(0)
    batches = [torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16)]

    def small_cnn():  # few quantizers: ModelOpt's entropy search takes seconds per quantizer
        return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3),
                                   torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 12 * 12, 10))

    ranges = {m: _input_amax(prepare_qat(small_cnn(), batches, m, 99.0, CPU))
              for m in ("minmax", "entropy", "percentile")}
    assert all(len(r) == len(ranges["minmax"]) == 3 for r in ranges.values())
    # max calibration is the largest |x| seen; entropy and a 99th percentile clip below it
    assert ranges["minmax"][0] == pytest.approx(float(torch.cat(batches).abs().max()))
    for method in ("entropy", "percentile"):
        assert ranges[method][0] < ranges["minmax"][0], method


def test_resnet_export_quantizes_the_skip_input_of_residual_adds(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    model = prepare_qat(torchvision.models.resnet18(num_classes=10), [x], "minmax", 99.99, CPU).eval()
    out = tmp_path / "qat.onnx"
    export_onnx(model, out, x[:2], exporter="torchscript", constant_folding=False, simplify=True)
    before = qdq_summary(out)
    assert "Add" not in before["quantized_ops"] and before["nonzero_zero_points"] == 0
    rewired = share_residual_qdq(out)
    # 8 residual Adds; the 3 whose both inputs come from BatchNorms (downsampling blocks) have no Q/DQ to share
    assert len(rewired) == 5, rewired
    graph = onnx.load(str(out)).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    adds = [[producer.get(i) for i in n.input] for n in graph.node if n.op_type == "Add"]
    assert sum("DequantizeLinear" in kinds for kinds in adds) == 5
    assert qdq_summary(out)["quantize_nodes"] == before["quantize_nodes"]  # no new scale: existing pairs reused
    assert summarize(check_placement(out))["ok"]
    assert share_residual_qdq(out) == []  # idempotent


@pytest.mark.slow
@pytest.mark.parametrize("family", ["resnet", "densenet", "mobilenet_v3", "efficientnet_b0", "regnet",
                                    "convnext_tiny", "seed_cnn"])
def test_qat_export_passes_the_placement_check(family, tmp_path):
    arch, size = FAMILIES[family]
    torch.manual_seed(0)
    x = torch.randn(2, 3, size, size)
    model = prepare_qat(family_model(arch), [x], "minmax", 99.99, CPU).eval()
    out = tmp_path / "qat.onnx"
    export_onnx(model, out, x, exporter="torchscript", constant_folding=False, simplify=True)
    share_residual_qdq(out)
    qdq = qdq_summary(out)
    assert "Conv" in qdq["quantized_ops"] and qdq["per_channel_dequantize"] > 0, qdq
    summary = summarize(check_placement(out))
    assert summary["ok"], summary["findings"][:5]


def test_quantize_stage_qat_uses_modelopt_for_tensorrt(tiny, tmp_path):
    raw = quant_recipe(tiny, tmp_path, {"scheme": "tensorrt", "calibration": {"method": "percentile", "samples": 64},
                                        "qat": {"epochs": 1, "distill": False}})
    result = run_recipe(parse_recipe(raw))
    metrics = result.stages[-1].metrics
    extra = metrics["extra"]
    assert extra["quantizer"]["backend"] == "modelopt" and extra["quantizer"]["version"]
    # the tiny model is a ResNet-20: its identity blocks' Adds share the next conv's Q/DQ, and that is reported
    assert extra["residual_adds_quantized"] and "max_abs_diff_after_residual_qdq" in extra["export"]
    report = (result.stages[-1].directory.parent / "report.html").read_text()
    assert f"{len(extra['residual_adds_quantized'])} residual Add(s) read their skip input" in report
    assert extra["calibration"]["method"] == "percentile" and extra["calibration"]["samples_used"] == 64
    assert extra["calibration"]["quantizers"]["weight"] > 0
    assert extra["placement"]["ok"] and extra["qdq"]["nonzero_zero_points"] == 0
    # torch's fake-quant and ONNX Runtime round a few values to neighbouring steps (0.013 measured on the logits)
    assert extra["export"]["max_abs_diff_vs_fake_quant"] < 0.05
    assert metrics["accuracy"]["top1"] > 0.5
    assert extra["int8_vs_fp32"], "QAT's int8 model is timed against its fp32 source like PTQ's"


def test_quantize_stage_qat_for_cpu_stays_on_torch_ao(tiny, tmp_path):
    raw = quant_recipe(tiny, tmp_path, {"scheme": "cpu", "qat": {"epochs": 1, "distill": False}})
    extra = run_recipe(parse_recipe(raw)).stages[-1].metrics["extra"]
    assert extra["quantizer"]["backend"] == "torch.ao" and "uint8" in extra["qdq"]["zero_point_types"]
    assert "placement" not in extra


@pytest.mark.parametrize("quantize, field", [
    ({"scheme": "cpu", "backend": "modelopt"}, "backend"),
    ({"scheme": "tensorrt", "backend": "nncf"}, "backend"),
    ({"scheme": "tensorrt", "exclude": ["/conv1/Conv"]}, "exclude"),
    ({"scheme": "tensorrt", "max_accuracy_drop": 1.0}, "max_accuracy_drop"),
])
def test_qat_refuses_what_it_cannot_do_before_compute(tiny, tmp_path, quantize, field):
    with pytest.raises(RecipeError, match=field):
        parse_recipe(quant_recipe(tiny, tmp_path, {**quantize, "qat": {"epochs": 1}}))
