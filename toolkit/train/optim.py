"""Optimiser with decay only on weights, and per-step learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn

from toolkit.train.options import TrainingFields


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


def scaling_warmup_epochs(opts: TrainingFields) -> float:
    """Epochs over which a multi-process lr multiplier ramps up: Goyal et al. 2017 used 5 epochs of 90;
    short runs use a quarter of their epochs, and never less than the recipe's own warm-up."""
    return max(opts.warmup_epochs, min(5.0, opts.epochs / 4))


def make_scheduler(optimizer: torch.optim.Optimizer, opts: TrainingFields, steps_per_epoch: int,
                   lr_scale: float = 1.0):
    """A per-step schedule: warm-up then cosine or constant, or one-cycle.

    With `swa_epochs`, cosine anneals to swa_lr (not 0) by the first averaging epoch and stays there, or with
    `swa_cycle_epochs` falls linearly from swa_lr to swa_lr/100 within each cycle (Izmailov et al. 2018, eq. 1).

    `lr_scale` > 1 (several processes, linear scaling rule): the multiplier itself rises linearly from 1
    to `lr_scale` over `scaling_warmup_epochs` (gradual warm-up, Goyal et al. 2017, "Accurate, Large
    Minibatch SGD"), so the learning rate never jumps to N times the recipe's. The optimizer's lr must
    be the recipe's (unscaled) lr. One-cycle already starts at max_lr/25 and ramps, so only its peak scales.
    """
    total = max(1, opts.epochs * steps_per_epoch)
    warmup = int(opts.warmup_epochs * steps_per_epoch)
    if opts.schedule == "onecycle":
        pct = max(opts.warmup_epochs / opts.epochs, 0.05) if opts.warmup_epochs else 0.25
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=opts.lr * lr_scale, total_steps=total,
                                                   pct_start=min(pct, 0.9))
    ramp = max(1, int(scaling_warmup_epochs(opts) * steps_per_epoch))
    # Weight averaging (Izmailov et al. 2018): anneal to swa_lr, then hold it while the weights are averaged.
    averaging_from = (opts.epochs - opts.swa_epochs) * steps_per_epoch if opts.swa_epochs else total
    floor = opts.swa_learning_rate() / opts.lr if opts.swa_epochs else 0.0
    cycle = opts.swa_cycle_epochs * steps_per_epoch  # cyclical averaging: swa_lr -> swa_lr/100 linearly per cycle

    def shape(step: int) -> float:
        if step >= averaging_from:
            through = ((step - averaging_from) % cycle + 1) / cycle if cycle else 0.0
            return floor * (1.0 - 0.99 * through)
        if opts.schedule == "constant":
            return 1.0
        progress = max(0.0, (step - warmup) / max(1, averaging_from - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def factor(step: int) -> float:
        scale = 1.0 + (lr_scale - 1.0) * min(1.0, step / ramp)
        warming = 0.1 + 0.9 * step / max(1, warmup) if step < warmup else 1.0
        return scale * warming * shape(step)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
