"""torch eager runtimes: torch-cpu (fp32), torch-cuda (fp32/fp16/bf16, channels_last, optional compile)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from toolkit.artifacts import TORCH, Model
from toolkit.runtimes.base import Runtime


class TorchSession:
    """An eval-mode module behind inference_mode; inputs moved to its device and dtype."""

    def __init__(self, module: nn.Module, device: str, dtype: torch.dtype, threads: int | None,
                 channels_last: bool = False):
        self.module, self.device, self.dtype, self.threads = module, device, dtype, threads
        self.channels_last = channels_last
        self.precision = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
        self.gpu_timing = device.startswith("cuda")

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits as float32 numpy."""
        previous = torch.get_num_threads()
        if self.threads and self.device == "cpu":
            torch.set_num_threads(self.threads)
        try:
            x = torch.as_tensor(images).to(self.device, self.dtype)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                out = self.module(x)
            return out.float().cpu().numpy()
        finally:
            torch.set_num_threads(previous)

    def time_ms(self, images: np.ndarray, iterations: int) -> list[float]:
        """CUDA: device time of each run with CUDA events, input already on the device."""
        x = torch.as_tensor(images).to(self.device, self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        times = []
        with torch.inference_mode():
            for _ in range(iterations):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                self.module(x)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
        return times

    def sync(self) -> None:
        """Wait for CUDA work."""
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()


@dataclass
class TorchRuntime(Runtime):
    """torch eager on CPU or CUDA."""

    def unavailable(self) -> str | None:
        """CUDA runtimes need a CUDA device."""
        if self.device == "cuda" and not torch.cuda.is_available():
            return "no CUDA device is available to torch"
        return None

    def load(self, model: Model, threads: int | None = None) -> TorchSession:
        """Wrap a copy of the module (the caller's model keeps its device and dtype)."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"{self.name} runs torch models, not {model.format}")
        precision = self.options.get("precision", "fp32")
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        module = copy.deepcopy(model).eval().to(self.device, dtype)
        channels_last = bool(self.options.get("channels_last", self.device == "cuda"))
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        if self.options.get("compile"):
            module = torch.compile(module)
        return TorchSession(module, self.device, dtype, threads or torch.get_num_threads(), channels_last)


def torch_runtimes() -> list[Runtime]:
    """The torch runtimes this package offers."""
    return [
        TorchRuntime("torch-cpu", "cpu", frozenset({TORCH}), "torch eager, fp32, on the CPU"),
        TorchRuntime("torch-cuda", "cuda", frozenset({TORCH}), "torch eager on CUDA, fp32, channels_last"),
        TorchRuntime("torch-cuda-fp16", "cuda", frozenset({TORCH}), "torch eager on CUDA, fp16, channels_last",
                     {"precision": "fp16"}),
        TorchRuntime("torch-cuda-bf16", "cuda", frozenset({TORCH}), "torch eager on CUDA, bf16, channels_last",
                     {"precision": "bf16"}),
        TorchRuntime("torch-cuda-compile", "cuda", frozenset({TORCH}), "torch.compile on CUDA, fp16",
                     {"precision": "fp16", "compile": True}),
    ]
