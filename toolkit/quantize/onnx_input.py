"""Reading an ONNX file as untrusted input (`compress inspect --model FILE.onnx` takes one from anywhere).

Bounded and checked before any value is loaded: a regular file of at most MAX_FILE_BYTES read once; a
ModelProto with a graph; at most MAX_NODES nodes, each tensor made by one node, no node reading what it or
a later node makes (a cycle); Q/DQ nodes of their arity; and every initializer and Constant holding exactly
the data its declared shape needs (a scale declaring 2**40 values is refused from its header), with external
data only in an existing file inside the model's folder. External data is checked, never read here.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from toolkit.errors import ArtifactError

MAX_FILE_BYTES = 2 ** 31 - 1  # protobuf's own limit: a larger model keeps its weights in external data files
MAX_NODES = 200_000  # a ResNet-152 with Q/DQ pairs has about 2,000 nodes
MAX_VALUES = 1 << 24  # values one scale or zero point may hold: far past any layer's channel count
MAX_RANK = 64


class BadGraph(ValueError):
    """The graph cannot be what it claims; the message says where, and callers add the file's name."""


def shown(name: str) -> str:
    """A name from the file as a quoted, escaped literal for one line of output (no control characters)."""
    text = repr(str(name))
    return text if len(text) <= 60 else text[:56] + "...'"


def _read_bounded(path: Path, cap: int) -> bytes:
    """The bytes of a regular file of at most `cap` bytes (BadGraph otherwise); never waits on a FIFO."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadGraph("not a regular file (a folder, device, pipe or socket)")
        if info.st_size > cap:
            raise BadGraph(f"{info.st_size:,} bytes, more than the {cap:,} an ONNX file can hold")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise BadGraph(f"more than the {cap:,} bytes an ONNX file can hold")
    return data


def _bits(data_type: int) -> int | None:
    """Bits per element of an ONNX tensor data type; None for strings; BadGraph for an unknown type."""
    from onnx import TensorProto, helper

    packed = {getattr(TensorProto, n, -1): b for n, b in (("INT4", 4), ("UINT4", 4), ("FLOAT4E2M1", 4),
                                                           ("INT2", 2), ("UINT2", 2))}
    if data_type in packed:
        return packed[data_type]
    if data_type == TensorProto.STRING:
        return None
    try:
        return helper.tensor_dtype_to_np_dtype(data_type).itemsize * 8
    except Exception:  # noqa: BLE001 - KeyError/ValueError for a number no ONNX version defines
        raise BadGraph(f"unknown tensor data type {data_type}") from None


def _external_problem(tensor, needed: int, folder: Path) -> str | None:
    """Why a tensor's external data cannot be what it declares, or None; nothing is read."""
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    try:
        offset, length = int(info.get("offset") or 0), int(info.get("length") or needed)
        target = (folder / location).resolve()
        inside = bool(location) and "\x00" not in location and target.is_relative_to(folder.resolve())
        size = target.stat().st_size if inside and target.is_file() else None
    except (ValueError, OSError) as exc:
        return f"unusable external data entry ({type(exc).__name__}: {' '.join(str(exc).split())[:100]})"
    if not inside:
        return f"external data {shown(location)} is outside the model's folder"
    if size is None:
        return f"external data file {shown(location)} is missing (or not a regular file) in the model's folder"
    if offset < 0 or length != needed or offset + needed > size:
        return f"declares {needed:,} bytes at offset {offset:,} of {shown(location)}, which holds {size:,}"
    return None


def _tensor_problem(tensor, folder: Path) -> str | None:
    """Why a tensor's declared shape cannot match the data it holds, or None; nothing is allocated."""
    from onnx import TensorProto

    if len(tensor.dims) > MAX_RANK or any(d < 0 for d in tensor.dims):
        return f"bad shape {list(tensor.dims)[:8]}"
    count, bits = math.prod(tensor.dims), _bits(tensor.data_type)
    if bits is None:
        held = len(tensor.string_data)
        return None if held == count else f"declares {count:,} strings but holds {held:,}"
    needed = (count * bits + 7) // 8
    if tensor.data_location == tensor.EXTERNAL:
        return _external_problem(tensor, needed, folder)
    if tensor.raw_data:
        held, unit = len(tensor.raw_data), "bytes"
    else:  # typed fields: one entry per value (two for complex numbers); 4- and 2-bit values packed as in raw
        held, unit = (len(tensor.float_data) + len(tensor.int32_data) + len(tensor.int64_data)
                      + len(tensor.double_data) + len(tensor.uint64_data)), "entries"
        complex_types = (TensorProto.COMPLEX64, TensorProto.COMPLEX128)
        needed = needed if bits < 8 else count * (2 if tensor.data_type in complex_types else 1)
    if held != needed:
        return f"declares {count:,} values (shape {list(tensor.dims)[:8]}: {needed:,} {unit}) but holds {held:,}"
    return None


def _check_graph(model, folder: Path) -> None:
    """BadGraph for a graph the rules cannot trust: too many nodes, a tensor made twice, a node reading what
    it or a later node makes (a cycle, or nodes out of order), Q/DQ nodes of the wrong arity, or a tensor
    whose declared size is not the data it holds."""
    graph = model.graph
    if len(graph.node) > MAX_NODES or len(graph.initializer) > MAX_NODES:
        raise BadGraph(f"{len(graph.node):,} nodes and {len(graph.initializer):,} initializers, more than the "
                       f"{MAX_NODES:,} a model is checked with")
    made: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for out in filter(None, node.output):
            if out in made:
                raise BadGraph(f"tensor {shown(out)} is made by two nodes")
            made[out] = i
    tensors = [(t.name, t) for t in graph.initializer]
    for i, node in enumerate(graph.node):
        where = f"{shown(node.op_type)} node {shown(node.name)}"
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and not (
                2 <= len(node.input) <= 3 and len(node.output) == 1):
            raise BadGraph(f"{where} has {len(node.input)} inputs and {len(node.output)} outputs (it takes 2 or 3 "
                           f"and makes 1)")
        if node.op_type == "Constant":
            if len(node.output) != 1:
                raise BadGraph(f"{where} makes {len(node.output)} outputs (a Constant makes 1)")
            tensors += [(node.output[0], a.t) for a in node.attribute if a.name == "value"]
        for name in node.input:
            if made.get(name, -1) >= i:
                who = "it makes itself" if made[name] == i else "a later node makes"
                raise BadGraph(f"{where} reads {shown(name)}, which {who}: the graph has a cycle or is out of order")
    for name, tensor in tensors:
        try:
            problem = _tensor_problem(tensor, folder)
        except BadGraph as exc:
            problem = str(exc)
        if problem:
            raise BadGraph(f"tensor {shown(name)}: {problem}")


def read_model(path: Path):
    """Read an ONNX file as untrusted input and return its ModelProto; external data stays unread.

    Raises ArtifactError (exit 2) naming the file when it is missing, not a regular file, over
    MAX_FILE_BYTES, not an ONNX model (truncated, garbage), or its graph fails `_check_graph`.
    """
    import onnx

    try:
        model = onnx.ModelProto()
        try:
            model.ParseFromString(_read_bounded(path, MAX_FILE_BYTES))
        except (BadGraph, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - DecodeError, RecursionError: whatever the parser says of garbage
            raise BadGraph(f"not an ONNX model (truncated, or not protobuf: {type(exc).__name__})") from None
        if model.ir_version <= 0 or not model.HasField("graph"):
            raise BadGraph("not an ONNX model (no IR version or no graph: truncated, or another kind of file)")
        _check_graph(model, Path(path).resolve().parent)
    except FileNotFoundError:
        raise ArtifactError(f"{path} is not a file (no such file)") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except BadGraph as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    return model
