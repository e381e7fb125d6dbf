"""Is the exported batch axis really dynamic? A batch size the tracer froze into the graph, found at export.

The TorchScript exporter records Python numbers as constants: a model that calls `int(x.size(0))` (or passes
`int(x.shape[0])` to view/reshape) exports a Reshape to the example's batch size, 1. The file checks and runs
at batch 1, and at any other batch size ONNX Runtime fails deep inside ("GEMM: Dimension mismatch") or
returns the wrong number of rows. Each export is therefore run at batch 1 and batch 2 right away, and a
model that only runs at 1 is refused with the cause and the call to change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from toolkit.errors import UserInputError

FIX = ("the model turns the batch size into a Python int (int(x.size(0)) or x.shape[0] used in view/reshape), "
       "which the exporter freezes as a constant; use x.flatten(1) or x.view(x.size(0), -1) without int()")


class FrozenBatchError(UserInputError):
    """The exported model runs only at the batch size it was traced with."""


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # a check, not a measurement: no graph optimization (fast to build), one thread, nothing on stderr (the
    # failure it looks for is reported by the error raised)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def fixed_batch_reshapes(path: Path, batch: int = 1) -> list[str]:
    """Reshape nodes whose target shape is a constant starting with `batch`: 'name [1, 512]' each."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    found = []
    for node in graph.node:
        shape = constants.get(node.input[1]) if node.op_type == "Reshape" and len(node.input) > 1 else None
        if shape is not None and shape.ndim == 1 and len(shape) > 1 and int(shape[0]) == batch:
            found.append(f"{node.name or node.output[0]} {[int(v) for v in shape]}")
    return found


def check_dynamic_batch(path: Path, example: torch.Tensor, input_name: str) -> None:
    """Run the ONNX file at batch 1 and batch 2 (the first image of `example`, repeated).

    Raises FrozenBatchError, naming the cause and the fix, when it runs at batch 1 but fails or returns another
    number of rows at batch 2. A model that does not run even at batch 1 is left to the parity check's error.
    """
    session = _session(path)
    one = example[:1].cpu().numpy().astype(np.float32)
    try:
        session.run(None, {input_name: one})
    except Exception:  # noqa: BLE001 - not a batch problem: the parity check reports it with its own words
        return
    try:
        rows = session.run(None, {input_name: np.concatenate([one, one])})[0].shape[0]
        seen = None if rows == 2 else f"2 images gave {rows} output row(s)"
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime's own message is evidence, not the explanation
        seen = f"ONNX Runtime: {str(exc).splitlines()[0][:200]}"
    if seen is None:
        return
    reshapes = fixed_batch_reshapes(path)
    where = f"; Reshape with the batch size fixed at 1: {', '.join(reshapes[:3])}" if reshapes else ""
    raise FrozenBatchError(f"the exported model runs only at batch size 1 ({seen}{where}): {FIX}")
