"""Q/DQ placement check for TensorRT's explicit quantization: pure ONNX graph analysis, no runtime.

Rules from TensorRT's developer guide, "Working with Quantized Types" (Q/DQ layer-placement
recommendations), which NVIDIA's ModelOpt ONNX quantizer follows:

- `qdq_before_activation`: a Q/DQ pair between a Conv/ConvTranspose/Gemm/MatMul (or the BatchNormalization or
  residual Add fused into it) and the activation that consumes it stops TensorRT fusing the activation.
- `residual_add_both_quantized`: an Add fed by a Conv/Gemm (its fusible branch) with both inputs quantized;
  TensorRT fuses the Add into the Conv only when the Conv branch carries no Q/DQ (quantize the other one).
  Both rules count a Q/DQ only where it exists for that one consumer: a quantized tensor that another
  quantized consumer also reads (x in x * HardSigmoid(x), a block input that feeds a Conv) is needed.
- `weight_not_per_channel`: a weight DequantizeLinear that is per-tensor, or per-channel on an axis that is
  not the layer's output-channel axis (0 for Conv and for Gemm with transB, 1 otherwise).
  Scales that cannot belong to their weight (per-channel on a scalar, an axis the weight lacks, a count that
  is not its channel count) make the file invalid instead: ArtifactError, exit 2.
- `nonzero_zero_point`: TensorRT supports symmetric quantization only (zero point 0, int8).
- `qdq_on_float_layer`: a layer that should stay float (kept by the accuracy gate or `exclude`) has a
  dequantized input, so TensorRT would run it in int8.

The file is read by `toolkit.quantize.onnx_input.read_model`, as untrusted input: `compress inspect --model`
takes a file from anywhere.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from toolkit.errors import ArtifactError
from toolkit.quantize.onnx_input import MAX_VALUES, BadGraph, read_model, shown

LAYERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
ACTIVATIONS = ("Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu",
               "Softplus", "Gelu", "PRelu", "ThresholdedRelu")
RULES = ("qdq_before_activation", "residual_add_both_quantized", "weight_not_per_channel", "nonzero_zero_point",
         "qdq_on_float_layer")
def _output_channel_axis(layer) -> int:
    """The weight axis of output channels: Conv [K,C,kh,kw] -> 0; ConvTranspose [C,K/g,..] -> 1; Gemm B is
    [N,K] with transB=1 (axis 0), else [K,N] (axis 1); MatMul B is [K,N] (axis 1)."""
    if layer.op_type == "Conv":
        return 0
    if layer.op_type == "Gemm":
        trans_b = next((a.i for a in layer.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return 1


def _attr(node, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


class QdqGraph:
    """Producer/consumer maps and constant lookup over an ONNX graph, for the placement rules (and the
    residual Q/DQ pass, `toolkit.quantize.residual_qdq`)."""

    def __init__(self, graph, base_dir: Path | None = None):
        self.base_dir = base_dir  # external data is read only from a folder the caller vouches for
        self.inits = {i.name: i for i in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        # torch exports Q/DQ scales and zero points as Constant nodes
        self.constants = {n.output[0]: a.t for n in graph.node if n.op_type == "Constant" for a in n.attribute
                          if a.name == "value"}

    def tensor(self, name: str):
        """The TensorProto of an initializer or Constant, or None."""
        return self.inits.get(name) or self.constants.get(name)

    def shape(self, name: str) -> tuple[int, ...] | None:
        """The declared shape of an initializer or Constant (nothing is loaded), or None."""
        tensor = self.tensor(name)
        return tuple(tensor.dims) if tensor is not None else None

    def array(self, name: str):
        """The value of an initializer or Constant, or None; BadGraph for one too large or unreadable."""
        from onnx import numpy_helper

        tensor = self.tensor(name)
        if tensor is None:
            return None
        if math.prod(tensor.dims) > MAX_VALUES:
            raise BadGraph(f"tensor {shown(name)} declares {math.prod(tensor.dims):,} values, more than a "
                           f"Q/DQ parameter holds")
        external = tensor.data_location == tensor.EXTERNAL
        if external and self.base_dir is None:
            raise BadGraph(f"tensor {shown(name)} keeps its data in another file, which is not read here")
        try:
            return numpy_helper.to_array(tensor, str(self.base_dir) if external else "")
        except Exception as exc:  # noqa: BLE001 - numpy/onnx errors on data that does not fit its declaration
            raise BadGraph(f"tensor {shown(name)} cannot be read ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:200]})") from None

    def weight_of(self, dq) -> tuple[int, ...] | None:
        """The shape of the weight a DequantizeLinear makes: int8 initializer (PTQ) or Q of a float
        initializer (QAT); None for an activation."""
        if dq.input[0] in self.inits:
            return self.shape(dq.input[0])
        q = self.producer.get(dq.input[0])
        if q is not None and q.op_type == "QuantizeLinear" and q.input[0] in self.inits:
            return self.shape(q.input[0])
        return None

    def only_for(self, tensor: str, node) -> bool:
        """True when Q/DQ(x) = tensor exists only for `node`: x feeds just the Q, the DQ feeds just `node`.
        (Otherwise another consumer needs the quantized tensor, e.g. the Mul of x * HardSigmoid(x).)"""
        source = self.producer[self.producer[tensor].input[0]].input[0]
        return len(self.consumers[source]) == 1 and all(c is node for c in self.consumers[tensor])

    def dequantized(self, tensor: str) -> str | None:
        """The output of a DequantizeLinear fed by QuantizeLinear(tensor), if the graph has one."""
        for q in self.consumers[tensor]:
            if q.op_type == "QuantizeLinear" and q.input[0] == tensor:
                dq = next((d for d in self.consumers[q.output[0]] if d.op_type == "DequantizeLinear"), None)
                if dq is not None:
                    return dq.output[0]
        return None

    def dequantized_source(self, tensor: str):
        """For tensor = DQ(Q(x)) return (x's producer or None, x); for DQ of a stored weight (None, weight);
        else None."""
        dq = self.producer.get(tensor)
        if dq is None or dq.op_type != "DequantizeLinear":
            return None
        q = self.producer.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear":
            return (None, dq.input[0])
        return (self.producer.get(q.input[0]), q.input[0])


def _activation_rule(g: QdqGraph, node) -> str | None:
    source = g.dequantized_source(node.input[0]) if node.input else None
    if source and source[0] is not None and source[0].op_type in (*LAYERS, "Add", "BatchNormalization") \
            and g.only_for(node.input[0], node):
        return f"Q/DQ between {source[0].op_type} '{source[0].name}' and this {node.op_type}: the activation " \
               f"cannot fuse"
    return None


def _residual_rule(g: QdqGraph, node) -> str | None:
    sources = [g.dequantized_source(t) for t in node.input]
    if len(sources) != 2 or not all(s is not None and s[1] not in g.inits for s in sources):
        return None
    layers = [s[0] for t, s in zip(node.input, sources)
              if s[0] is not None and s[0].op_type in LAYERS and g.only_for(t, node)]
    if layers:
        return f"both inputs quantized, one from {layers[0].op_type} '{layers[0].name}': the Add cannot fuse into it"
    return None


def _zero_point_rule(g: QdqGraph, node) -> str | None:
    import numpy as np

    zero = g.array(node.input[2]) if len(node.input) > 2 else None
    if zero is None or not (np.any(zero != 0) or zero.dtype == np.uint8):
        return None
    kind = "non-zero" if np.any(zero != 0) else "unsigned"
    return f"zero point {zero.dtype} {kind}: TensorRT takes symmetric int8 only"


def _scales_fit(dq, weight: tuple[int, ...], scale: tuple[int, ...], axis: int) -> None:
    """BadGraph when per-channel scales cannot belong to their weight (the file is invalid, not misplaced)."""
    count, where = math.prod(scale), f"DequantizeLinear {shown(dq.name)}"
    if len(scale) > 1 and _attr(dq, "block_size", 0):
        return  # blocked quantization: scales shaped like the weight, not a placement question here
    if not weight:
        raise BadGraph(f"{where}: {count} scales for the scalar weight {shown(dq.input[0])}")
    if not -len(weight) <= axis < len(weight):
        raise BadGraph(f"{where}: axis {axis} is out of range for a weight of {len(weight)} dimensions")
    if count != weight[axis]:
        raise BadGraph(f"{where}: {count} scales for {weight[axis]} channels on axis {axis}")


def _weight_rule(g: QdqGraph, node) -> str | None:
    dq = g.producer.get(node.input[1]) if len(node.input) > 1 else None
    weight = g.weight_of(dq) if dq is not None and dq.op_type == "DequantizeLinear" else None
    if weight is None:
        return None
    scale, axis, want = g.shape(dq.input[1]), _attr(dq, "axis", 1), _output_channel_axis(node)
    if scale is not None and math.prod(scale) > 1:
        _scales_fit(dq, weight, scale, axis)
    channels = weight[want] if len(weight) > want else 0
    if scale is None or math.prod(scale) <= 1 and channels > 1:
        return "per-tensor weight scale (TensorRT's int8 kernels expect per-output-channel scales)"
    if math.prod(scale) > 1 and (axis % len(weight)) != want:
        return f"weight scales on axis {axis}, output channels are on axis {want}"
    return None


def check_placement(model_file: Path, float_nodes: list[str] | None = None, model=None) -> list[dict[str, Any]]:
    """Every place in a Q/DQ ONNX file that breaks TensorRT's fusion rules, as {rule, node, op, detail}.

    `float_nodes`: node names meant to stay float. An empty list means the placement is fusion-friendly.
    `model`: the file's ModelProto when already read (`read_model`). Raises ArtifactError naming the file
    when it is missing, unreadable or invalid (see `read_model`).
    """
    model = read_model(Path(model_file)) if model is None else model
    graph = model.graph
    g = QdqGraph(graph, Path(model_file).resolve().parent)
    floats = set(float_nodes or [])
    rules = (("qdq_before_activation", ACTIVATIONS, _activation_rule), ("residual_add_both_quantized", ("Add",),
             _residual_rule), ("nonzero_zero_point", ("QuantizeLinear", "DequantizeLinear"), _zero_point_rule),
             ("weight_not_per_channel", LAYERS, _weight_rule))
    findings: list[dict[str, Any]] = []
    try:
        for node in graph.node:
            for rule, ops, check in rules:
                detail = check(g, node) if node.op_type in ops else None
                if detail:
                    findings.append({"rule": rule, "node": node.name, "op": node.op_type, "detail": detail})
    except BadGraph as exc:
        raise ArtifactError(f"{model_file}: not a valid Q/DQ model: {exc}") from None
    for node in graph.node:
        if node.name in floats and any(g.dequantized_source(t) is not None for t in node.input):
            findings.append({"rule": "qdq_on_float_layer", "node": node.name, "op": node.op_type,
                             "detail": "meant to stay float, but an input is dequantized: TensorRT runs it in int8"})
    return findings


def summarize(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per rule (every rule listed, 0 when clean) and the findings themselves."""
    counts = {rule: sum(f["rule"] == rule for f in findings) for rule in RULES}
    return {"ok": not findings, "counts": counts, "findings": findings}


def format_findings(summary: dict[str, Any], title: str) -> str:
    """Plain-text lines for `compress inspect --model FILE.onnx`."""
    lines = [f"Q/DQ placement for TensorRT: {title}"]
    if summary["ok"]:
        lines.append("  ok: no Q/DQ placement breaks TensorRT's fusion rules")
    for finding in summary["findings"]:
        lines.append(f"  {finding['rule']}: {finding['op']} '{finding['node']}': {finding['detail']}")
    # node names come from the file: a control character in one must not rewrite the terminal
    return "\n".join("".join(c if c.isprintable() else repr(c)[1:-1] for c in line) for line in lines)


def log_placement(model_file: Path, float_nodes: list[str], log) -> dict[str, Any]:
    """Run the check after a tensorrt-scheme quantize; log a warning per broken rule; return the summary."""
    summary = summarize(check_placement(model_file, float_nodes))
    for rule, count in summary["counts"].items():
        if count:
            log.warning(f"Q/DQ placement: {count} x {rule} (TensorRT cannot fuse there; see extra.placement)")
    return summary


def inspect_file(path: Path, as_json: bool, echo) -> int:
    """`compress inspect --model FILE.onnx`: print the placement findings; return 1 when any, else 0.

    Raises ArtifactError (exit 2) with one line naming the file for a file that is missing, too large, not an
    ONNX model or invalid (see `read_model`): exit 1 stays "a placement rule is broken".
    """
    import json

    try:
        model = read_model(path)
        summary = summarize(check_placement(path, model=model))
    except ArtifactError as exc:
        raise ArtifactError(f"--model: {exc}") from None
    summary["qdq_nodes"] = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
    if as_json:
        echo(json.dumps(summary, indent=2))
    elif not summary["qdq_nodes"]:
        echo(f"{path}: no Q/DQ nodes (a float model): nothing to check")
    else:
        echo(format_findings(summary, f"{path} ({summary['qdq_nodes']} Q/DQ nodes)"))
    return 0 if summary["ok"] else 1
