"""The GPU machine's wheelhouse list: whole-name skips (torch-pruning travels, torch and CUDA wheels do not)."""

from __future__ import annotations

import pytest

from benchmarks.wheelhouse import closure, skipped


@pytest.mark.parametrize("name, skip", [
    ("torch", True), ("torchvision", True), ("triton", True), ("nvidia-cublas-cu12", True), ("cuda-bindings", True),
    ("torch-pruning", False), ("torchmetrics", False), ("nvidia-modelopt", False), ("nvidia-ml-py", False),
    ("tritonclient", False),
])
def test_only_whole_names_are_skipped(name, skip):
    assert skipped(name) is skip


def test_the_closure_keeps_torch_pruning_and_modelopt_but_not_torch():
    pins = closure(["torch-pruning>=1.4", "nvidia-modelopt", "torch>=2.4"])
    assert "torch-pruning" in pins and "nvidia-modelopt" in pins and "numpy" in pins
    assert not any(skipped(name) for name in pins)
