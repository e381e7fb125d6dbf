"""The classic small CNN: Conv32-Pool-Conv64-Pool-Conv64-Flatten-Dense64-Dense(num_classes), ReLU."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when the model is built: naming it (validating a recipe) needs no torch
    from torch import nn

# Files saved before the layers had names use "0.weight", "3.bias", ...: old module name -> new name.
# Loading maps them (toolkit.models.legacy), so earlier run folders and caches stay readable.
LEGACY_MODULE_NAMES = {"0": "conv1", "1": "relu1", "2": "pool1", "3": "conv2", "4": "relu2", "5": "pool2",
                       "6": "conv3", "7": "relu3", "8": "flatten", "9": "fc", "10": "relu4", "11": "classifier"}


def _side(pixels: int) -> int:
    """A feature map's side after conv-pool-conv-pool-conv (3x3 valid convs, 2x2 pools)."""
    size = pixels - 2  # 3x3 valid
    size = size // 2 - 2  # pool, 3x3 valid
    return size // 2 - 2  # pool, 3x3 valid


def _flat_size(input_size: int | tuple[int, int]) -> int:
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    if min(_side(height), _side(width)) < 1:
        raise ValueError(f"seed_cnn needs inputs of at least 18x18 pixels, got {height}x{width}")
    return 64 * _side(height) * _side(width)


def seed_cnn(num_classes: int = 10, input_size: int | tuple[int, int] = 32, in_channels: int = 3) -> nn.Module:
    """Build the seed article's small CNN for inputs of `input_size` pixels (an int: square; or (height, width))
    with `in_channels` channels.

    Layers are named (conv1..conv3, fc, classifier) for pruning reports, `ignore:` globs and ONNX node
    names; they are created in the same order as before, so a seed gives the same initial weights.
    """
    from torch import nn

    layers = [nn.Conv2d(in_channels, 32, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
              nn.Conv2d(32, 64, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
              nn.Conv2d(64, 64, 3), nn.ReLU(inplace=True),
              nn.Flatten(),
              nn.Linear(_flat_size(input_size), 64), nn.ReLU(inplace=True),
              nn.Linear(64, num_classes)]
    return nn.Sequential(OrderedDict(zip(LEGACY_MODULE_NAMES.values(), layers)))


seed_cnn.legacy_module_names = LEGACY_MODULE_NAMES  # type: ignore[attr-defined]
