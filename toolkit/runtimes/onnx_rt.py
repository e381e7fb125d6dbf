"""ONNX Runtime: CPU, CUDA and TensorRT execution providers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from toolkit.artifacts import ONNX, ONNX_INT8, Model, ModelArtifact, check_onnx_file
from toolkit.runtimes.base import Runtime, missing_package

if TYPE_CHECKING:  # numpy is imported by a session (kept as self.np): naming runtimes imports none
    import numpy as np

KEEP_FLOAT = "WeightBiasQuantization"


class OrtSession:
    """An onnxruntime InferenceSession with one input and one output."""

    def __init__(self, session, threads: int | None, precision: str):
        import numpy

        self.session, self.threads, self.precision, self.np = session, threads, precision, numpy
        self.input_name = session.get_inputs()[0].name

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits for a float32 batch."""
        np = self.np
        return self.session.run(None, {self.input_name: np.ascontiguousarray(images, dtype=np.float32)})[0]

    def sync(self) -> None:
        """run() returns after the work is done."""


@dataclass
class OrtRuntime(Runtime):
    """onnxruntime with one execution provider; sessions run in a worker process (`Runtime.isolated`)."""

    isolated: ClassVar[bool] = True

    def unavailable(self) -> str | None:
        """Missing package or execution provider."""
        reason = missing_package("onnxruntime", "pip install onnxruntime, or onnxruntime-gpu for CUDA/TensorRT")
        if reason:
            return reason
        import onnxruntime as ort

        provider = self.options["provider"]
        if provider not in ort.get_available_providers():
            return (f"onnxruntime {ort.__version__} here has no {provider} "
                    f"(available: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu")
        return None

    def open_here(self, model: Model, threads: int | None = None) -> OrtSession:
        """Create a session with full graph optimisation, in this process."""
        import onnxruntime as ort

        if not isinstance(model, ModelArtifact):
            raise TypeError(f"{self.name} runs ONNX files")
        check_onnx_file(model.path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        session = _session(ort, str(model.path), options, self.options["provider"])
        used = threads or (os.cpu_count() if self.device == "cpu" else None)
        return OrtSession(session, used, "int8" if model.format == ONNX_INT8 else "fp32")


def _session(ort, path: str, options, provider: str):
    """An InferenceSession with ORT's WeightBiasQuantization optimizer disabled.

    That optimizer (ORT >= 1.21) quantizes the float weights of a layer that sits between Q/DQ pairs, so a
    layer the quantize stage deliberately kept in float would silently run in int8. It has nothing to do
    in a float model or in a fully quantized one, so disabling it changes nothing else.
    """
    try:
        return ort.InferenceSession(path, options, providers=[provider], disabled_optimizers=[KEEP_FLOAT])
    except (TypeError, ValueError, RuntimeError):  # older ORT without this optimizer or argument
        return ort.InferenceSession(path, options, providers=[provider])


def onnx_runtimes() -> list[Runtime]:
    """onnxruntime with the CPU, CUDA and TensorRT execution providers."""
    formats = frozenset({ONNX, ONNX_INT8})
    return [
        OrtRuntime("onnxruntime-cpu", "cpu", formats, "ONNX Runtime, CPU execution provider",
                   {"provider": "CPUExecutionProvider"}),
        OrtRuntime("onnxruntime-cuda", "cuda", formats, "ONNX Runtime, CUDA execution provider",
                   {"provider": "CUDAExecutionProvider"}),
        OrtRuntime("onnxruntime-tensorrt", "cuda", formats, "ONNX Runtime, TensorRT execution provider",
                   {"provider": "TensorrtExecutionProvider"}),
    ]
