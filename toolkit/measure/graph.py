"""A fingerprint of a network's structure and shapes (not its weights): equal fingerprints run equally fast.

Two stages with the same fingerprint (a distilled copy of the pruned network, say) execute the same kernels
on the same shapes, so their latency differs only by noise; they are measured once and shown as equal.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def onnx_graph_hash(path: Path) -> str:
    """'onnx:<16 hex>' over node types, attributes, tensor shapes and dtypes; tensor names and weights ignored.

    Raises OSError/onnx errors for an unreadable file.
    """
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    graph = proto.graph
    ids: dict[str, int] = {}

    def tid(name: str) -> int:  # tensor names differ between exports; their order of appearance does not
        return ids.setdefault(name, len(ids)) if name else -1

    def shape(value) -> list:
        dims = value.type.tensor_type.shape.dim
        return [d.dim_value or d.dim_param for d in dims], value.type.tensor_type.elem_type

    inits = {i.name: (list(i.dims), i.data_type) for i in graph.initializer}
    nodes = []
    for node in graph.node:
        attrs = []
        for a in node.attribute:
            value = onnx.helper.get_attribute_value(a)
            if isinstance(value, onnx.TensorProto):
                value = (list(value.dims), value.data_type)
            elif isinstance(value, onnx.GraphProto) or (isinstance(value, list) and value
                                                        and isinstance(value[0], (onnx.GraphProto, onnx.TensorProto))):
                value = "subgraph"  # CNNs have none; control flow is outside what this fingerprint tells apart
            attrs.append((a.name, value))
        nodes.append((node.op_type, node.domain, [(tid(n), inits.get(n)) for n in node.input],
                      [tid(n) for n in node.output], attrs))
    payload = {"inputs": [shape(v) for v in graph.input if v.name not in inits],
               "outputs": [shape(v) for v in graph.output], "nodes": nodes,
               "opsets": sorted((o.domain, o.version) for o in proto.opset_import)}
    return "onnx:" + _digest(payload)


def torch_graph_hash(model) -> str:
    """'torch:<16 hex>' over module types, their settings (extra_repr) and parameter/buffer shapes and dtypes."""
    modules = [(name, type(m).__name__, m.extra_repr()) for name, m in model.named_modules()]
    tensors = [(name, list(t.shape), str(t.dtype)) for name, t in
               list(model.named_parameters()) + list(model.named_buffers())]
    return "torch:" + _digest({"modules": modules, "tensors": tensors})


def graph_hash(model) -> str | None:
    """The fingerprint of a torch module or an ONNX ModelArtifact; None for anything else (engines)."""
    from toolkit.artifacts import ModelArtifact

    if isinstance(model, ModelArtifact):
        if Path(model.path).suffix != ".onnx":
            return None
        try:
            return onnx_graph_hash(model.path)
        except Exception as exc:  # noqa: BLE001 - no fingerprint means "measure it", never a failure
            from toolkit.measure.interrupts import reraise_if_interrupted

            reraise_if_interrupted(exc)
            return None
    if hasattr(model, "named_modules"):
        return torch_graph_hash(model)
    return None
