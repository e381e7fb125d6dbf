"""The openvino scheme's quantizer: NNCF makes it, its float fallback uses NNCF's ignored scope, OpenVINO runs it."""

from __future__ import annotations

import onnx
import pytest

from toolkit.errors import RecipeError, UserInputError
from toolkit.quantize.backend import choose_backend
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe


def recipe(tiny, tmp_path, **quantize):
    return tiny(stages=[{"train": {"epochs": 2, "lr": 0.05}},
                        {"quantize": {"cache_dir": str(tmp_path / "calib"), "calibration": {"samples": 64},
                                      "scheme": "openvino", **quantize}}])


def quantized_compute_nodes(path) -> set[str]:
    """Names of the Conv/Gemm nodes that read a DequantizeLinear output (the INT8 ones)."""
    graph = onnx.load(str(path)).graph
    dq_outputs = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    return {n.name for n in graph.node if n.op_type in ("Conv", "Gemm") and dq_outputs.intersection(n.input)}


@pytest.mark.slow
def test_openvino_scheme_is_made_by_nncf_and_its_fallback_keeps_the_ranked_layer_float(tiny, tmp_path):
    raw = recipe(tiny, tmp_path, max_accuracy_drop=0.0, max_float_layers=1, sensitivity_samples=64)
    raw["measure"]["runtimes"] = ["onnxruntime-cpu", "openvino-cpu"]
    result = run_recipe(parse_recipe(raw))
    stage = result.stages[-1]
    extra = stage.metrics["extra"]
    assert stage.status == "ok" and extra["scheme"] == "openvino"
    assert extra["quantizer"]["backend"] == "nncf" and extra["quantizer"]["version"]
    assert extra["calibration"]["cache_file"] is None and extra["calibration"]["batches_read"] == 2
    assert extra["qdq"]["quantize_nodes"] > 0 and extra["qdq"]["nonzero_zero_points"] == 0  # symmetric
    assert "placement" not in extra  # TensorRT's fusion rules are not OpenVINO's
    kept = [k["node"] for k in extra["kept_float"]]
    if extra["drop_points"] > 0 or kept:  # the gate ran: at most one layer, and it is float in the file
        assert len(kept) <= 1
        assert not set(kept) & quantized_compute_nodes(stage.directory / "model.int8.onnx")
    measured = {row["runtime"] for row in stage.metrics["latency"]}
    assert {"onnxruntime-cpu", "openvino-cpu"} <= measured  # both runtimes load and time NNCF's file
    assert "Made by <b>nncf</b>" in (result.run_dir / "report.html").read_text()


def test_nncf_excludes_a_named_layer_through_its_ignored_scope(tmp_path):
    import torch
    from torch import nn

    from toolkit.quantize.backend import run_backend
    from toolkit.quantize.ptq import BatchReader

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 4)).eval()
    fp32 = tmp_path / "m.onnx"
    torch.onnx.export(model, torch.randn(1, 3, 8, 8), fp32, input_names=["input"], dynamo=False,
                      dynamic_axes={"input": {0: "batch"}})
    convs = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "Conv"]
    backend = choose_backend("auto", "openvino", "minmax", True)
    reader = BatchReader([torch.randn(4, 3, 8, 8) for _ in range(3)], "input")
    common = dict(scheme="openvino", method="minmax", percentile=99.99, per_channel=True, cache_file=None)
    run_backend(backend, fp32, tmp_path / "all.onnx", reader=reader, exclude=[], **common)
    assert set(convs) <= quantized_compute_nodes(tmp_path / "all.onnx")
    run_backend(backend, fp32, tmp_path / "one.onnx", reader=reader, exclude=[convs[1]], **common)
    assert convs[0] in quantized_compute_nodes(tmp_path / "one.onnx")
    assert convs[1] not in quantized_compute_nodes(tmp_path / "one.onnx")
    assert reader.reads == 6  # NNCF has no cache: every call calibrates on every batch
    with pytest.raises(UserInputError, match="no node named nope"):
        run_backend(backend, fp32, tmp_path / "x.onnx", reader=reader, exclude=["nope"], **common)


@pytest.mark.parametrize("backend, scheme, method, message", [
    ("auto", "openvino", "entropy", "no entropy calibration"),
    ("onnxruntime", "openvino", "minmax", "made by nncf only"),
    ("modelopt", "openvino", "minmax", "made by nncf only"),
    ("nncf", "cpu", "minmax", "nncf makes only scheme: openvino"),
])
def test_nncf_clashes_are_user_errors(backend, scheme, method, message):
    with pytest.raises(UserInputError, match=message):
        choose_backend(backend, scheme, method, True)
    assert choose_backend("auto", "openvino", "percentile", False).name == "nncf"


def test_entropy_with_the_openvino_scheme_is_refused_before_compute(tiny, tmp_path):
    with pytest.raises(RecipeError, match="no entropy calibration") as caught:
        parse_recipe(recipe(tiny, tmp_path, calibration={"method": "entropy"}))
    assert "stages[1].quantize.calibration.method" in str(caught.value)


def test_auto_resolves_to_openvino_when_the_recipe_measures_on_openvino_only(tiny, tmp_path):
    raw = recipe(tiny, tmp_path, scheme="auto")
    raw["measure"]["runtimes"] = ["openvino-cpu"]
    quantize = parse_recipe(raw).stages[-1]
    assert quantize.resolved.scheme == "openvino" and "OpenVINO only" in quantize.resolved.scheme_reason
    raw["measure"]["runtimes"] = ["onnxruntime-cpu", "openvino-cpu"]
    assert parse_recipe(raw).stages[-1].resolved.scheme == "cpu"


@pytest.mark.parametrize("change, field, message", [
    ({"engine": True}, "stages[1].quantize.scheme", "TensorRT's explicit quantization does not accept"),
    ({"qat": {"epochs": 1}}, "stages[1].quantize.qat", "not NNCF's openvino placement"),
    ({"scheme": "tensorrt", "backend": "nncf"}, "stages[1].quantize.backend", "set scheme: openvino"),
])
def test_openvino_scheme_misuses_are_refused_before_compute(tiny, tmp_path, change, field, message):
    change = dict(change)
    engine = change.pop("engine", False)
    raw = recipe(tiny, tmp_path, **change)
    raw["stages"] += [{"engine": {"precision": "int8"}}] if engine else []
    with pytest.raises(RecipeError, match=message) as caught:
        parse_recipe(raw)
    assert field in str(caught.value)


def test_openvino_scheme_before_an_fp16_engine_is_accepted(tiny, tmp_path):
    raw = recipe(tiny, tmp_path)
    raw["stages"] += [{"engine": {"precision": "fp16"}}]
    assert parse_recipe(raw).stages[1].resolved.scheme == "openvino"


def test_nncf_percentile_calibration_and_per_tensor_weights_are_applied(tmp_path):
    import torch
    from onnx import numpy_helper
    from torch import nn

    from toolkit.quantize.backend import run_backend
    from toolkit.quantize.ptq import BatchReader

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4)).eval()
    fp32 = tmp_path / "m.onnx"
    torch.onnx.export(model, torch.randn(1, 3, 8, 8), fp32, input_names=["input"], dynamo=False,
                      dynamic_axes={"input": {0: "batch"}})
    backend = choose_backend("auto", "openvino", "percentile", False)
    torch.manual_seed(0)
    batches = [torch.randn(4, 3, 8, 8) for _ in range(3)]
    scales = {}
    for method, per_channel in (("minmax", True), ("percentile", False)):
        out = tmp_path / f"{method}.onnx"
        run_backend(backend, fp32, out, reader=BatchReader(batches, "input"), exclude=[], scheme="openvino",
                    method=method, percentile=90.0, per_channel=per_channel, cache_file=None)
        graph = onnx.load(str(out)).graph
        inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        dq = [inits[n.input[1]] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[1] in inits]
        scales[method] = dq
        if per_channel:
            assert any(s.size == 8 for s in dq)  # the Conv's weights: one scale per output channel
        else:
            assert all(s.size == 1 for s in dq)  # per-tensor weights
    # the input's 90th-percentile range is narrower than its min/max range
    assert float(scales["percentile"][0].max()) < float(scales["minmax"][0].max())
