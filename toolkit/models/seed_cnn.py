"""The classic small CNN: Conv32-Pool-Conv64-Pool-Conv64-Flatten-Dense64-Dense(num_classes), ReLU."""

from __future__ import annotations

from torch import nn


def _flat_size(input_size: int) -> int:
    size = input_size - 2  # 3x3 valid
    size = size // 2 - 2  # pool, 3x3 valid
    size = size // 2 - 2  # pool, 3x3 valid
    if size < 1:
        raise ValueError(f"seed_cnn needs inputs of at least 18x18 pixels, got {input_size}")
    return 64 * size * size


def seed_cnn(num_classes: int = 10, input_size: int = 32, in_channels: int = 3) -> nn.Module:
    """Build the seed article's small CNN for square inputs of `input_size` pixels."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(_flat_size(input_size), 64), nn.ReLU(inplace=True),
        nn.Linear(64, num_classes),
    )
