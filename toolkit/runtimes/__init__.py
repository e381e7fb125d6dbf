"""Runtimes by name: torch-cpu, onnxruntime-cpu, openvino-cpu, and the GPU ones where present."""

from toolkit.runtimes.base import Runtime, Session
from toolkit.runtimes.catalogue import RUNTIMES, get_runtime, register_runtime, runtime_names

__all__ = ["RUNTIMES", "Runtime", "Session", "get_runtime", "register_runtime", "runtime_names"]
