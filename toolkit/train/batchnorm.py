"""BatchNorm running statistics that match the weights: checked and recomputed after a stage changes the model.

A BatchNorm layer's running mean/variance are an exponential average with a small momentum in many
torchvision models (mobilenet_v3: 0.01, MNASNet: 0.0003), so after a few epochs, a pruning step or a
fine-tune they still describe older weights and evaluation collapses (train top-1 93%, val 10%).
The standard repair is one pass over training images with a cumulative average (momentum None), as
in torch.optim.swa_utils.update_bn (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima"),
also used after pruning ("adaptive BN", Li et al. 2020, EagleEye).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from toolkit.measure.accuracy import evaluate, torch_predict

STATS_SAMPLES = 4096  # train images for the cumulative average: plenty for per-channel means and variances
CHECK_SAMPLES = 1024  # train and val images for the before/after comparison
GAIN = 0.02  # recomputed statistics are kept when train top-1 (eval mode) improves by more than this
GAP = 0.3  # train top-1 this far above val top-1 (with val under half the train value) is "wildly" apart


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """BatchNorm layers that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and m.track_running_stats and m.running_mean is not None]


def _train_order(data, samples: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed + 15485863)
    return torch.randperm(len(data.train), generator=gen)[: min(samples, len(data.train))]


def train_batches_unaugmented(data, samples: int, seed: int) -> Iterator:
    """Unaugmented, seeded train images with labels (the same preprocessing as evaluation)."""
    return data.train.batches(_train_order(data, samples, seed), data.eval_batch_size, data.mean, data.std,
                              None, None)


def recompute_batchnorm(model: nn.Module, batches: Iterator, device: torch.device) -> None:
    """Reset every BatchNorm's running statistics and recompute them as a cumulative average over `batches`.

    `batches` yields (images, labels) with images (N, C, H, W); the model's mode and momenta are restored.
    """
    from torch.optim.swa_utils import update_bn

    update_bn(([images] for images, _ in batches), model, device)


def refresh_batchnorm(model: nn.Module, data, device: torch.device, seed: int,
                      log: Callable[[str], None], warn: Callable[[str], None],
                      train_top1_in_training: float | None = None) -> dict[str, Any] | None:
    """Recompute BatchNorm statistics in place when that makes the model agree with its weights.

    Compares eval-mode top-1 on seeded train images before and after a cumulative recompute, keeps the
    better one, reports val top-1 before/after, and warns when train and val accuracy are wildly apart.
    Returns None for a model without BatchNorm; else a plain dict for the stage's metrics.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return None
    classes = data.num_classes
    check = lambda m, batches: evaluate(torch_predict(m, device), batches, classes)["top1"]  # noqa: E731
    train_before = check(model, train_batches_unaugmented(data, CHECK_SAMPLES, seed))
    val_before = check(model, data.val_batches(limit=CHECK_SAMPLES))
    candidate = copy.deepcopy(model).to(device)
    recompute_batchnorm(candidate, train_batches_unaugmented(data, STATS_SAMPLES, seed), device)
    train_after = check(candidate, train_batches_unaugmented(data, CHECK_SAMPLES, seed))
    val_after = check(candidate, data.val_batches(limit=CHECK_SAMPLES))
    applied = train_after > train_before + GAIN
    if applied:
        model.load_state_dict(candidate.state_dict())
    model.eval()
    momenta = sorted({m.momentum for m in layers if m.momentum is not None})
    record = {"layers": len(layers), "momentum": momenta, "recomputed": applied,
              "stats_samples": min(STATS_SAMPLES, len(data.train)), "method": "cumulative average (update_bn)",
              "train_top1_before": train_before, "train_top1_after": train_after,
              "val_top1_before": val_before, "val_top1_after": val_after}
    log(f"BatchNorm statistics ({len(layers)} layers, momentum {momenta}): train top-1 (eval mode) "
        f"{train_before:.4f} -> {train_after:.4f}, val top-1 {val_before:.4f} -> {val_after:.4f} with recomputed "
        f"statistics; {'recomputed' if applied else 'kept (they already match the weights)'}")
    train_top1 = max(train_after if applied else train_before, train_top1_in_training or 0.0)
    val_top1 = val_after if applied else val_before
    if train_top1 - val_top1 > GAP and val_top1 < train_top1 / 2:
        record["train_val_gap"] = round(train_top1 - val_top1, 4)
        warn(train_val_warning(train_top1, val_top1, applied))
    return record


def train_val_warning(train_top1: float, val_top1: float, recomputed: bool) -> str:
    """The warning for train and val accuracy that disagree wildly, naming the likely causes."""
    first = ("BatchNorm statistics were recomputed and did not close the gap, so " if recomputed else
             "recomputing the BatchNorm statistics did not help, so ")
    return (f"train top-1 {train_top1:.1%} but val top-1 {val_top1:.1%}: {first}the likely cause is a difference "
            f"between the splits (preprocessing: normalisation mean/std, image size, channel order; or labels "
            f"that do not mean the same class in train and val), or heavy overfitting of a small train split")
