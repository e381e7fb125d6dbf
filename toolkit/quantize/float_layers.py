"""Which compute layers of a Q/DQ ONNX model run in float: read from the graph, whoever decided it."""

from __future__ import annotations

from pathlib import Path

from toolkit.quantize.float_fallback import QUANTIZABLE_OPS


def float_compute_nodes(qdq_model: Path) -> list[dict[str, str]]:
    """Conv/ConvTranspose/Gemm/MatMul nodes whose weight input (input 1) is not fed by a DequantizeLinear.

    Returns [{"node": name, "op": op_type}] in graph order. A quantizer that leaves a layer in float (ModelOpt
    keeps e.g. the first Conv and the classifier Gemm by its own rules) shows it only this way: the weight
    goes straight from an fp32 initializer into the layer.
    """
    import onnx

    graph = onnx.load(str(qdq_model), load_external_data=False).graph
    dequantized = {out for n in graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    return [{"node": n.name, "op": n.op_type} for n in graph.node
            if n.op_type in QUANTIZABLE_OPS and n.name and len(n.input) > 1 and n.input[1] not in dequantized]


def float_by_quantizer(qdq_model: Path, kept_by_recipe: list[str]) -> list[dict[str, str]]:
    """The float compute layers the quantizer chose itself: all float ones minus those the recipe's `exclude`
    or the accuracy gate kept (`kept_by_recipe`), each with why."""
    kept = set(kept_by_recipe)
    return [{**row, "why": "left in float by the quantizer's own placement rules"}
            for row in float_compute_nodes(qdq_model) if row["node"] not in kept]
