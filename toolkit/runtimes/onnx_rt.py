"""ONNX Runtime: CPU, CUDA and TensorRT execution providers."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from toolkit.artifacts import Model, ModelArtifact
from toolkit.onnxutil import check_onnx_file
from toolkit.registry import ONNX, ONNX_INT8
from toolkit.runtimes.base import Runtime, missing_package


class OrtSession:
    """An onnxruntime InferenceSession with one input and one output."""

    def __init__(self, session, threads: int | None, precision: str):
        self.session, self.threads, self.precision = session, threads, precision
        self.input_name = session.get_inputs()[0].name

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits for a float32 batch."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(images, dtype=np.float32)})[0]

    def sync(self) -> None:
        """run() returns after the work is done."""


@dataclass
class OrtRuntime(Runtime):
    """onnxruntime with one execution provider."""

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

    def load(self, model: Model, threads: int | None = None) -> OrtSession:
        """Create a session with full graph optimisation."""
        import onnxruntime as ort

        if not isinstance(model, ModelArtifact):
            raise TypeError(f"{self.name} runs ONNX files")
        check_onnx_file(model.path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(model.path), options, providers=[self.options["provider"]])
        used = threads or (os.cpu_count() if self.device == "cpu" else None)
        return OrtSession(session, used, "int8" if model.format == ONNX_INT8 else "fp32")


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
