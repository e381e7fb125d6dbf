"""The peers of the frontier benchmark, written the way their own documentation shows (no toolkit code)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn


def torch_pruning_finetune(model: nn.Module, example: torch.Tensor, macs_speedup: float, batches, epochs: int,
                           lr: float, num_classes: int, bf16: bool = False) -> nn.Module:
    """Torch-Pruning as its README shows (L2 magnitude, round_to 8), the ratio tuned by hand to the MACs
    target, then plain SGD fine-tuning (cosine, momentum 0.9, weight decay 5e-4).

    `bf16`: fine-tune under bf16 autocast in channels_last where the CPU has native bf16 kernels (AMX), as the
    toolkit's recovery stage does when its recipe sets amp_cpu, so both get the same compute per epoch."""
    import torch_pruning as tp

    base_macs, _ = tp.utils.count_ops_and_params(model, example)
    best, best_gap = None, float("inf")
    # What a user does by hand: try ratios, keep the closest. A full sweep, not a bisection: with round_to the
    # MACs do not fall monotonically with the ratio (ResNet-20: 0.5 -> 3.9x fewer MACs, 0.75 -> 1.45x).
    for ratio in np.arange(0.05, 0.81, 0.05):
        m = uniform_pruned(model, example, float(ratio), num_classes)
        gap = abs(base_macs / tp.utils.count_ops_and_params(m, example)[0] - macs_speedup)
        if gap < best_gap:
            best, best_gap = m, gap
    model = best.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    steps = sum(1 for _ in batches(0)) * epochs
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    fast = bf16 and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    layout = torch.channels_last if fast else torch.contiguous_format
    model.to(memory_format=layout)
    for epoch in range(epochs):
        for images, labels in batches(epoch):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
                loss = nn.functional.cross_entropy(model(images.contiguous(memory_format=layout)), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.to(memory_format=torch.contiguous_format).eval()


def uniform_pruned(model: nn.Module, example: torch.Tensor, ratio: float, num_classes: int,
                   round_to: int | None = 8) -> nn.Module:
    """A copy of `model` with `ratio` of every group's channels removed (Torch-Pruning, L2 magnitude)."""
    import torch_pruning as tp

    m = copy.deepcopy(model).eval()
    ignored = [x for x in m.modules() if isinstance(x, nn.Linear) and x.out_features == num_classes]
    pruner = tp.pruner.MetaPruner(m, example, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                  pruning_ratio=ratio, ignored_layers=ignored, round_to=round_to)
    pruner.step()
    return m


def ort_ptq_defaults(fp32: Path, out: Path, calibration: list[np.ndarray]) -> None:
    """onnxruntime.quantization.quantize_static with its default arguments."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"input": x} for x in calibration])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(fp32), str(out), Reader())


def nncf_ptq(fp32: Path, out: Path, calibration: list[np.ndarray]) -> None:
    """nncf.quantize on the fp32 ONNX model (OpenVINO's tool), default preset."""
    import nncf
    import onnx

    quantized = nncf.quantize(onnx.load(str(fp32)), nncf.Dataset([{"input": x} for x in calibration]),
                              subset_size=len(calibration))
    onnx.save(quantized, str(out))
