"""Float layers read from a Q/DQ graph; the accuracy gate does not rank layers that are already float."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from toolkit.quantize.float_layers import float_by_quantizer, float_compute_nodes
from toolkit.quantize.float_fallback import keep_sensitive_in_float


def qdq_model(path):
    """x -> /conv1/Conv (fp32 weight) -> /conv2/Conv (Q/DQ weight) -> Flatten -> /classifier/Gemm (fp32)."""
    inits = [numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w1"),
             numpy_helper.from_array(np.ones((4, 4, 1, 1), np.int8), "w2_q"),
             numpy_helper.from_array(np.ones(4, np.float32), "w2_scale"),
             numpy_helper.from_array(np.zeros(4, np.int8), "w2_zp"),
             numpy_helper.from_array(np.ones((2, 4), np.float32), "wfc")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="/conv1/Conv"),
             helper.make_node("DequantizeLinear", ["w2_q", "w2_scale", "w2_zp"], ["w2"], name="w2_dq", axis=0),
             helper.make_node("Conv", ["a", "w2"], ["b"], name="/conv2/Conv"),
             helper.make_node("GlobalAveragePool", ["b"], ["c"], name="gap"),
             helper.make_node("Flatten", ["c"], ["d"], name="flat"),
             helper.make_node("Gemm", ["d", "wfc"], ["y"], name="/classifier/Gemm", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_float_compute_nodes_are_those_without_a_dequantized_weight(tmp_path):
    model = qdq_model(tmp_path / "m.onnx")
    assert float_compute_nodes(model) == [{"node": "/conv1/Conv", "op": "Conv"},
                                          {"node": "/classifier/Gemm", "op": "Gemm"}]
    by_quantizer = float_by_quantizer(model, ["/classifier/Gemm"])  # the gate kept the Gemm: not listed here
    assert [r["node"] for r in by_quantizer] == ["/conv1/Conv"] and "quantizer" in by_quantizer[0]["why"]


def test_the_sensitivity_ranking_skips_layers_already_in_float(tmp_path):
    model = qdq_model(tmp_path / "m.onnx")
    tried = []

    def quantize_excluding(exclude, path):
        tried.append(list(exclude))
        path.write_bytes(b"")

    result = keep_sensitive_in_float(quantize_excluding, lambda path: 0.9, model, tmp_path / "out.onnx", tmp_path,
                                     fp32_top1=1.0, int8_top1=0.5, max_drop_points=1.0, max_float_layers=1,
                                     log=lambda _: None, already_float=["/conv1/Conv", "/classifier/Gemm"])
    assert [r["node"] for r in result["sensitivity"]] == ["/conv2/Conv"]
    assert all("/conv1/Conv" not in t and "/classifier/Gemm" not in t for t in tried)
