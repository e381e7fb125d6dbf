"""TensorRT runtime: a serialized engine, device buffers as torch CUDA tensors (no pycuda), CUDA-event timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.artifacts import TENSORRT, Model, ModelArtifact
from toolkit.runtimes.base import Runtime, missing_package

if TYPE_CHECKING:  # numpy is imported by a session (kept as self.np): naming runtimes imports none
    import numpy as np


class TensorRTSession:
    """One execution context with a dynamic-batch input."""

    def __init__(self, engine_bytes: bytes, precision: str):
        import numpy
        import tensorrt as trt
        import torch

        self.trt, self.torch, self.np, self.precision, self.threads = trt, torch, numpy, precision, None
        self.gpu_timing = True
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise RuntimeError("TensorRT could not deserialize the engine (built by another TensorRT version or GPU?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.stream = torch.cuda.Stream()
        # The optimisation profile caps the batch: larger batches (accuracy passes) are run in chunks.
        self.max_batch = int(self.engine.get_tensor_profile_shape(self.input, 0)[2][0])

    def _run(self, x):
        torch = self.torch
        self.context.set_input_shape(self.input, tuple(x.shape))
        out = torch.empty(tuple(self.context.get_tensor_shape(self.output)), device="cuda", dtype=torch.float32)
        self.context.set_tensor_address(self.input, int(x.data_ptr()))
        self.context.set_tensor_address(self.output, int(out.data_ptr()))
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        return out

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits (host copies included), in chunks of at most the profile's maximum batch."""
        np = self.np
        x = self.torch.as_tensor(np.ascontiguousarray(images, dtype=np.float32)).to("cuda")
        outs = [self._run(chunk) for chunk in self.torch.split(x, self.max_batch)]
        self.stream.synchronize()
        return self.torch.cat(outs).cpu().numpy()

    def time_ms(self, images: np.ndarray, iterations: int) -> list[float]:
        """Device time of each run measured with CUDA events, input already on the device."""
        torch, np = self.torch, self.np
        x = torch.as_tensor(np.ascontiguousarray(images, dtype=np.float32)).to("cuda")
        times = []
        for _ in range(iterations):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(self.stream)
            self._run(x)
            end.record(self.stream)
            end.synchronize()
            times.append(start.elapsed_time(end))
        return times

    def sync(self) -> None:
        """Wait for the stream."""
        self.stream.synchronize()


@dataclass
class TensorRTRuntime(Runtime):
    """Native TensorRT engines (the engine stage's output), run in this process (`Runtime.isolated` is off): the
    session's buffers are torch CUDA tensors, and a worker would start torch and a second CUDA context."""

    def unavailable(self) -> str | None:
        """Missing package or GPU."""
        reason = missing_package("tensorrt", "pip install -e '.[tensorrt]' on a machine with an NVIDIA GPU; "
                                             "on Jetson it comes with JetPack")
        if reason:
            return reason
        import torch

        if not torch.cuda.is_available():
            return "no CUDA device is available (TensorRT engines need an NVIDIA GPU and its driver)"
        return None

    def open_here(self, model: Model, threads: int | None = None) -> TensorRTSession:
        """Deserialize the engine file."""
        if not isinstance(model, ModelArtifact):
            raise TypeError("tensorrt runs engine files")
        return TensorRTSession(model.path.read_bytes(), model.meta.get("precision", "unknown"))


def tensorrt_runtimes() -> list[Runtime]:
    """The native TensorRT runtime."""
    return [TensorRTRuntime("tensorrt", "cuda", frozenset({TENSORRT}), "TensorRT engine (CUDA events)")]
