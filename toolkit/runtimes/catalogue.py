"""The runtime registry, with the built-in runtimes: torch, ONNX Runtime, OpenVINO, TensorRT."""

from __future__ import annotations

from toolkit.registry import Registry
from toolkit.runtimes.base import Runtime
from toolkit.runtimes.onnx_rt import onnx_runtimes
from toolkit.runtimes.openvino_rt import openvino_runtimes
from toolkit.runtimes.tensorrt_rt import tensorrt_runtimes
from toolkit.runtimes.torch_rt import torch_runtimes

RUNTIMES: Registry[Runtime] = Registry("runtime")
for _runtime in torch_runtimes() + onnx_runtimes() + openvino_runtimes() + tensorrt_runtimes():
    RUNTIMES.add(_runtime.name, _runtime)


def get_runtime(name: str) -> Runtime:
    """Look up a runtime by name."""
    return RUNTIMES.get(name)


def runtime_names() -> list[str]:
    """All runtime names."""
    return RUNTIMES.names()


def register_runtime(runtime: Runtime) -> Runtime:
    """Add a runtime (plugins); duplicate names are errors."""
    return RUNTIMES.add(runtime.name, runtime)
