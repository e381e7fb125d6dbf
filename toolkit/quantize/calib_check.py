"""Before calibrating: refuse a model whose weights or activations cannot give int8 ranges, naming the tensor.

ONNX Runtime's calibrator otherwise fails deep inside with `AssertionError: scale issue` (NaN ranges).
A constant activation (a dead branch, e.g. a ReLU that is 0 for every image) quantizes fine (its range is
widened to include 0; scale 1 when min == max), so it is only a warning: the layers up to it carry no information.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from toolkit.errors import ToolkitError
from toolkit.finite import nonfinite_initializers

FLOAT_TYPES = (1, 10)  # onnx.TensorProto.FLOAT, FLOAT16


class CalibrationError(ToolkitError):
    """Calibration cannot produce int8 ranges for a tensor (NaN/inf weights or activations, empty tensors)."""


def _activations(proto) -> list[tuple[str, str, str]]:
    """(tensor, producing node, op type) for every float tensor that depends on the graph's input, in graph order."""
    types = {v.name: v.type.tensor_type.elem_type for v in list(proto.graph.value_info) + list(proto.graph.output)}
    live = {i.name for i in proto.graph.input} - {i.name for i in proto.graph.initializer}
    found = []
    for node in proto.graph.node:  # ONNX graphs are stored in topological order
        if not live.intersection(node.input):
            continue
        for out in node.output:
            live.add(out)
            if types.get(out) in FLOAT_TYPES:
                found.append((out, node.name or node.op_type, node.op_type))
    return found


def check_calibration(model_path: Path, batches: list[torch.Tensor], input_name: str = "input") -> list[str]:
    """Raise CalibrationError naming the first weight or activation that cannot be calibrated.

    Checks the model's initializers for NaN/inf, then runs the first calibration batch (N, C, H, W float32)
    through ONNX Runtime and checks every float activation in graph order: NaN or inf values or an empty
    tensor raise. Returns warnings (one per tensor) for activations with one value for every element of every
    image of that batch (a dead or zeroed layer): they quantize, but carry no information.
    """
    import onnx
    import onnxruntime as ort

    bad = nonfinite_initializers(model_path)
    if bad:
        raise CalibrationError(f"{model_path.name}: weight tensor(s) {', '.join(bad)} hold NaN or inf values; the "
                               f"model cannot be quantized (the stage that made it diverged or wrote garbage)")
    if not batches:
        raise CalibrationError("calibration: no calibration images (calibration.samples and the train split)")
    proto = onnx.load(str(model_path))
    activations = _activations(proto)
    existing = {o.name for o in proto.graph.output}
    for name, _, _ in activations:
        if name not in existing:
            proto.graph.output.append(onnx.ValueInfoProto(name=name))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    images = batches[0].numpy().astype(np.float32)
    outputs = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {input_name: images})))
    warnings: list[str] = []
    for name, node, op in activations:
        value = outputs.get(name)
        if value is None:
            continue
        where = f"activation '{name}' (output of {op} node '{node}')"
        if value.size == 0:
            raise CalibrationError(f"calibration: {where} is empty on the calibration images: no range to quantize")
        finite = np.isfinite(value)
        if not finite.all():
            share = 1.0 - float(finite.mean())
            raise CalibrationError(f"calibration: {where} holds NaN or inf in {share:.0%} of its values on the "
                                   f"calibration images; the layers up to it produce garbage (check the stage that "
                                   f"made this model)")
        if value.size > 1 and float(value.max()) == float(value.min()):
            warnings.append(f"calibration: {where} is constant ({float(value.flat[0]):.4g}) over the "
                            f"{len(images)} images of the first calibration batch: the layers up to it carry no "
                            f"information (a zeroed or dead layer?); it is quantized with a range that includes 0")
    return warnings
