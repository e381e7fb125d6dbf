"""Optimiser with decay only on weights, and per-step learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn

from toolkit.training.options import TrainingFields


def param_groups(modules: list[nn.Module], weight_decay: float) -> list[dict]:
    """Two groups: conv/linear weights decay; norms, biases and other 1-D tensors do not."""
    decay, no_decay, seen = [], [], set()
    for module in modules:
        for param in module.parameters():
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            (no_decay if param.ndim <= 1 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(modules: list[nn.Module], opts: TrainingFields) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov) or AdamW."""
    groups = param_groups(modules, opts.weight_decay)
    if opts.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=opts.lr)
    return torch.optim.SGD(groups, lr=opts.lr, momentum=opts.momentum, nesterov=opts.nesterov and opts.momentum > 0)


def make_scheduler(optimizer: torch.optim.Optimizer, opts: TrainingFields, steps_per_epoch: int):
    """A per-step schedule: warm-up then cosine or constant, or one-cycle."""
    total = max(1, opts.epochs * steps_per_epoch)
    warmup = int(opts.warmup_epochs * steps_per_epoch)
    if opts.schedule == "onecycle":
        pct = max(opts.warmup_epochs / opts.epochs, 0.05) if opts.warmup_epochs else 0.25
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=opts.lr, total_steps=total,
                                                   pct_start=min(pct, 0.9))

    def factor(step: int) -> float:
        if step < warmup:
            return 0.1 + 0.9 * step / max(1, warmup)
        if opts.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
