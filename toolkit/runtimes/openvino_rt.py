"""OpenVINO on the CPU: reads the ONNX files directly; its int8 kernels use VNNI/AMX where present."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

from toolkit.artifacts import ONNX, ONNX_INT8, Model, ModelArtifact, check_onnx_file
from toolkit.runtimes.base import Runtime, missing_package

if TYPE_CHECKING:  # numpy is imported by a session (kept as self.np): naming runtimes imports none
    import numpy as np


class OpenVinoSession:
    """A model compiled once per input shape (static shapes are what OpenVINO's CPU plugin runs best)."""

    def __init__(self, core, model_path: str, config: dict, threads: int | None, precision: str):
        self.core, self.model_path, self.config = core, model_path, config
        import numpy

        self.threads, self.precision, self.np = threads, precision, numpy
        self._compiled: dict[tuple[int, ...], object] = {}

    def _compiled_for(self, shape: tuple[int, ...]):
        if shape not in self._compiled:
            model = self.core.read_model(self.model_path)
            model.reshape({model.inputs[0].any_name: list(shape)})
            compiled = self.core.compile_model(model, "CPU", self.config)
            if not self.threads:
                self.threads = int(compiled.get_property("INFERENCE_NUM_THREADS")) or None
            self._compiled[shape] = (compiled, compiled.create_infer_request())  # the model outlives its request
        return self._compiled[shape][1]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits for a float32 batch."""
        np = self.np
        images = np.ascontiguousarray(images, dtype=np.float32)
        request = self._compiled_for(images.shape)
        request.infer({0: images})
        return np.array(request.get_output_tensor(0).data, copy=True)

    def sync(self) -> None:
        """infer() is synchronous."""


@dataclass
class OpenVinoRuntime(Runtime):
    """OpenVINO CPU plugin, latency hint, fp32 inference precision (int8 where the file is Q/DQ); sessions run in a
    worker process (`Runtime.isolated`): its compile_model has crashed with SIGSEGV on some INT8 graphs."""

    isolated: ClassVar[bool] = True

    def unavailable(self) -> str | None:
        """Missing package."""
        return missing_package("openvino", "pip install openvino")

    def open_here(self, model: Model, threads: int | None = None) -> OpenVinoSession:
        """Prepare a session in this process; compilation happens on first use of each input shape."""

        if not isinstance(model, ModelArtifact):
            raise TypeError(f"{self.name} runs ONNX files")
        check_onnx_file(model.path)
        # fp32 inference precision: on CPUs with bf16 support OpenVINO would silently run fp32 models in bf16.
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        return OpenVinoSession(shared_core(), str(model.path), config, threads,
                               "int8" if model.format == ONNX_INT8 else "fp32")


@lru_cache(maxsize=1)
def shared_core():
    """One OpenVINO Core for the process, created on first use and never destroyed before exit.

    A Core per session was garbage-collected before the compiled models and infer requests made from it
    (attribute order, cycles); destroying it unloads the CPU plugin, and the requests' destructors then
    segfaulted inside libopenvino (seen after a few hundred sessions in one test process).
    """
    import openvino as ov

    return ov.Core()


def openvino_runtimes() -> list[Runtime]:
    """OpenVINO's CPU runtime."""
    return [OpenVinoRuntime("openvino-cpu", "cpu", frozenset({ONNX, ONNX_INT8}), "OpenVINO CPU plugin")]
