"""The Q/DQ placement check finds each break of TensorRT's fusion rules in small hand-built graphs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from toolkit.quantize.placement import check_placement, format_findings, summarize


def _init(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def qdq(tensor: str, zero=np.int8(0)) -> tuple[list, list, str]:
    """Q then DQ of an activation; returns (nodes, initializers, dequantized name)."""
    nodes = [helper.make_node("QuantizeLinear", [tensor, f"{tensor}_scale", f"{tensor}_zp"], [f"{tensor}_q"],
                              name=f"{tensor}_Q"),
             helper.make_node("DequantizeLinear", [f"{tensor}_q", f"{tensor}_scale", f"{tensor}_zp"],
                              [f"{tensor}_dq"], name=f"{tensor}_DQ")]
    return nodes, [_init(f"{tensor}_scale", np.float32(0.1)), _init(f"{tensor}_zp", zero)], f"{tensor}_dq"


def conv(name: str, x: str, out: str, *, axis: int = 0, per_channel: bool = True) -> tuple[list, list]:
    """A Conv with 4 output channels whose int8 weights are dequantized (per-channel on `axis` or per-tensor)."""
    w = np.ones((4, 4, 1, 1), np.int8)
    scale = np.full(4, 0.01, np.float32) if per_channel else np.float32(0.01)
    zero = np.zeros(4, np.int8) if per_channel else np.int8(0)
    dq = helper.make_node("DequantizeLinear", [f"{name}_w", f"{name}_ws", f"{name}_wz"], [f"{name}_wdq"],
                          name=f"{name}_wDQ", axis=axis)
    node = helper.make_node("Conv", [x, f"{name}_wdq"], [out], name=name)
    return [dq, node], [_init(f"{name}_w", w), _init(f"{name}_ws", scale), _init(f"{name}_wz", zero)]


def save(tmp_path, nodes, inits, output: str):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], inits)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def block(tmp_path, *, qdq_before_relu=False, both_add_inputs=False, axis=0, per_channel=True, zero=np.int8(0)):
    """x -> Q/DQ -> Conv -> [Q/DQ] -> Relu -> Add(relu, Q/DQ(x)) with optional rule breaks."""
    n_in, i_in, xdq = qdq("x", zero)
    n_c, i_c = conv("conv", xdq, "c", axis=axis, per_channel=per_channel)
    nodes, inits, relu_in = n_in + n_c, i_in + i_c, "c"
    if qdq_before_relu:
        n, i, relu_in = qdq("c")
        nodes, inits = nodes + n, inits + i
    nodes.append(helper.make_node("Relu", [relu_in], ["r"], name="relu"))
    n_c2, i_c2 = conv("conv2", "r", "c2")
    nodes, inits, add_in = nodes + n_c2, inits + i_c2, "c2"
    if both_add_inputs:
        n, i, add_in = qdq("c2")
        nodes, inits = nodes + n, inits + i
    nodes.append(helper.make_node("Add", [add_in, xdq], ["y"], name="add"))
    return save(tmp_path, nodes, inits, "y")


def rules(path, float_nodes=None):
    return sorted({f["rule"] for f in check_placement(path, float_nodes)})


def test_a_fusion_friendly_graph_has_no_findings(tmp_path):
    summary = summarize(check_placement(block(tmp_path)))
    assert summary["ok"] and not any(summary["counts"].values())
    assert "ok" in format_findings(summary, "m.onnx")


def test_qdq_between_conv_and_its_activation_is_found(tmp_path):
    findings = check_placement(block(tmp_path, qdq_before_relu=True))
    assert [(f["rule"], f["node"]) for f in findings] == [("qdq_before_activation", "relu")]


def test_a_residual_add_with_both_inputs_quantized_is_found(tmp_path):
    assert rules(block(tmp_path, both_add_inputs=True)) == ["residual_add_both_quantized"]


@pytest.mark.parametrize("axis, per_channel", [(1, True), (0, False)])
def test_weights_not_per_channel_on_the_output_axis_are_found(tmp_path, axis, per_channel):
    assert rules(block(tmp_path, axis=axis, per_channel=per_channel)) == ["weight_not_per_channel"]


@pytest.mark.parametrize("zero", [np.int8(3), np.uint8(128)])
def test_nonzero_or_unsigned_zero_points_are_found(tmp_path, zero):
    findings = check_placement(block(tmp_path, zero=zero))
    assert {f["rule"] for f in findings} == {"nonzero_zero_point"} and len(findings) == 2  # its Q and its DQ


def test_qdq_on_a_layer_meant_to_stay_float_is_found(tmp_path):
    path = block(tmp_path)
    assert rules(path, ["conv"]) == ["qdq_on_float_layer"]
    assert rules(path, ["relu"]) == []  # relu's input is the float Conv output
    text = format_findings(summarize(check_placement(path, ["conv"])), "m.onnx")
    assert "qdq_on_float_layer: Conv 'conv'" in text


def test_inspect_model_onnx_prints_the_findings_and_exits_1(tmp_path):
    from click.testing import CliRunner

    from toolkit.cli.main import main

    bad = CliRunner().invoke(main, ["inspect", "--model", str(block(tmp_path, qdq_before_relu=True))])
    assert bad.exit_code == 1 and "qdq_before_activation: Relu 'relu'" in bad.output
    good = CliRunner().invoke(main, ["inspect", "--model", str(block(tmp_path)), "--json"])
    assert good.exit_code == 0 and '"ok": true' in good.output
    missing = CliRunner().invoke(main, ["inspect", "--model", str(tmp_path / "none.onnx")])
    assert missing.exit_code != 0 and "is not a file" in missing.output


def test_qat_style_weights_with_constant_scales_are_checked(tmp_path):
    """torch's QAT export: float weight -> Q -> DQ, scales and zero points as Constant nodes."""
    nodes = [helper.make_node("Constant", [], ["ws"], value=numpy_helper.from_array(np.float32(0.01))),
             helper.make_node("Constant", [], ["wz"], value=numpy_helper.from_array(np.int8(0))),
             helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"], name="wQ"),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wdq"], name="wDQ"),
             helper.make_node("Conv", ["x", "wdq"], ["y"], name="conv")]
    path = save(tmp_path, nodes, [_init("w", np.ones((4, 4, 1, 1), np.float32))], "y")
    assert [(f["rule"], f["node"]) for f in check_placement(path)] == [("weight_not_per_channel", "conv")]


def test_modelopt_calibrates_on_the_providers_onnxruntime_has():
    import onnxruntime as ort

    from toolkit.quantize.modelopt_ptq import calibration_providers

    eps = calibration_providers()
    assert eps[-1] == "cpu" and ("cuda:0" in eps) == ("CUDAExecutionProvider" in ort.get_available_providers())
