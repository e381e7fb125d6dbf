"""Quantize the skip input of residual Adds in a Q/DQ ONNX file, the way ModelOpt's ONNX PTQ does.

TensorRT fuses `Conv -> (BatchNorm) -> Add(skip) -> ReLU` into one int8 kernel when the Add's other input
(the skip connection) arrives quantized and the Conv branch carries no Q/DQ (TensorRT developer guide,
"Q/DQ Layer-Placement Recommendations"). PyTorch fake-quant (ModelOpt's or torch.ao's) quantizes only layer
inputs, so a QAT export leaves every residual Add in float. In a ResNet the skip tensor usually already
has a Q/DQ pair, the one feeding the next block's first convolution: this pass points the Add at that
pair's DequantizeLinear output, adding no new scale and no new node.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.fsutil import atomic_path

FUSIBLE = ("Conv", "ConvTranspose", "BatchNormalization")


def share_residual_qdq(path: Path) -> list[str]:
    """Rewrite `path` in place so each residual Add reads its skip input through an existing Q/DQ pair.

    An Add qualifies when one input comes from a Conv (or the BatchNormalization after one) and the other
    is a tensor X that is not dequantized there but also feeds `QuantizeLinear(X) -> DequantizeLinear`.
    Returns the names of the Adds rewired (empty: the file is left untouched)."""
    import onnx

    from toolkit.quantize.placement import QdqGraph

    model = onnx.load(str(path))
    g = QdqGraph(model.graph)
    rewired = []
    for node in model.graph.node:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        kinds = [getattr(g.producer.get(name), "op_type", None) for name in node.input]
        if "DequantizeLinear" in kinds:
            continue  # already quantized on one side
        for branch, skip in ((0, 1), (1, 0)):
            if kinds[branch] in FUSIBLE:
                shared = g.dequantized(node.input[skip])
                if shared is not None:
                    node.input[skip] = shared
                    rewired.append(node.name or node.output[0])
                    break
    if rewired:
        with atomic_path(path) as tmp:
            onnx.save(model, str(tmp))
    return rewired
