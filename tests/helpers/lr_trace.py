"""The learning rate a training stage's optimizer and schedule give at each step."""

from __future__ import annotations

from torch import nn

from toolkit.train.optim import make_optimizer, make_scheduler


def lr_trace(opts, steps_per_epoch: int) -> list[float]:
    """The lr of every step over opts.epochs epochs (as make_optimizer and make_scheduler set it)."""
    optimizer = make_optimizer([nn.Linear(2, 2)], opts)
    scheduler = make_scheduler(optimizer, opts, steps_per_epoch=steps_per_epoch)
    rates = []
    for _ in range(opts.epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates
