"""torch eager runtimes: torch-cpu (fp32), torch-cuda (fp32/fp16/bf16, channels_last, optional compile).

Naming them imports no torch (`compress validate --schema-only`): torch is imported when one is checked or loads.
They run in this process (`Runtime.isolated` is off): their model is a live module, not a file a worker could load.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.artifacts import TORCH, Model
from toolkit.runtimes.base import Runtime

if TYPE_CHECKING:
    from toolkit.runtimes.torch_session import TorchSession


@dataclass
class TorchRuntime(Runtime):
    """torch eager on CPU or CUDA."""

    def unavailable(self) -> str | None:
        """CUDA runtimes need a CUDA device."""
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            return "no CUDA device is available to torch"
        return None

    def open_here(self, model: Model, threads: int | None = None) -> TorchSession:
        """Wrap a copy of the module (the caller's model keeps its device and dtype)."""
        import torch
        from torch import nn

        from toolkit.runtimes.torch_session import TorchSession

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
