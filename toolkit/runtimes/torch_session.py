"""A torch module as a runtime session: eval mode, inference_mode, inputs moved to its device and dtype.

Its own module so that the runtime catalogue (`torch_rt.py`) names the torch runtimes without importing torch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


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
