"""A net whose forward splits a conv's output by sizes the module stores, as timm's MobileViT-v2 attention does
(`qkv.split([1, self.embed_dim, self.embed_dim], dim=1)`): Torch-Pruning prunes the conv and cannot change the sizes.

'stored_split:split_net' in tests. The split conv has 8 channels: the default round_to 8 keeps it whole (a layer
never goes below round_to), round_to 4 prunes it and the forward then fails in `split_with_sizes`.
"""

from __future__ import annotations

import torch
from torch import nn


class SplitBlock(nn.Module):
    """1x1 conv, split into two halves by stored sizes, a 3x3 conv on each half, concatenated again."""

    def __init__(self, channels: int):
        super().__init__()
        self.sizes = [channels // 2, channels - channels // 2]
        self.conv = nn.Conv2d(channels, channels, 1)
        self.left = nn.Conv2d(self.sizes[0], self.sizes[0], 3, padding=1)
        self.right = nn.Conv2d(self.sizes[1], self.sizes[1], 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self.conv(x).split(self.sizes, dim=1)
        return torch.cat([self.left(left), self.right(right)], 1)


class SplitNet(nn.Module):
    """stem (32 ch) -> reduce (8 ch) -> SplitBlock(8) -> head (32 ch) -> classifier; (N, C, H, W) -> (N, classes)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.reduce = nn.Conv2d(32, 8, 1)
        self.block = SplitBlock(8)
        self.head = nn.Sequential(nn.Conv2d(8, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.block(self.reduce(self.stem(x)))))


def split_net(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """SplitNet factory ('stored_split:split_net')."""
    return SplitNet(num_classes, in_channels)


class PartialResidual(nn.Module):
    """timm ReXNet's partial residual: the input is added to the first `in_channels` channels of a wider output,
    sliced by the count the module stores."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.expand = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x)
        return torch.cat([y[:, 0:self.in_channels] + x, y[:, self.in_channels:]], dim=1)


def partial_residual_net(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """stem (8 ch) -> PartialResidual(8 -> 16) -> head (32 ch) -> classifier ('stored_split:partial_residual_net')."""
    return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), PartialResidual(8, 16),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, num_classes))


class CrossStage(nn.Module):
    """timm's CSP stage in small: a 1x1 expansion split in halves (`x.split(self.half, dim=1)`), one half through a
    residual block, both concatenated into a transition conv. Torch-Pruning 1.6 prunes the expansion and then fails
    with an IndexError in its index bookkeeping across the split and the concatenation."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.half = channels // 2
        self.conv_exp = nn.Sequential(nn.Conv2d(in_channels, channels, 1), nn.BatchNorm2d(channels))
        self.block = nn.Sequential(nn.Conv2d(self.half, self.half, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(self.half, self.half, 3, padding=1))
        self.conv_b = nn.Conv2d(self.half, self.half, 1)
        self.conv_transition = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs, xb = self.conv_exp(x).split(self.half, dim=1)
        xb = self.conv_b(self.block(xb) + xb)
        return self.conv_transition(torch.cat([xs, xb], dim=1))


def csp_net(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """stem (16 ch) -> CrossStage(16 -> 32) -> pool -> classifier ('stored_split:csp_net')."""
    return nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), CrossStage(16, 32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes))


class GainConv2d(nn.Conv2d):
    """timm's ScaledStdConv2d in small: a per-output-channel `gain` (C_out, 1, 1, 1) scales the weight on every
    forward; Torch-Pruning cuts the weight and leaves the gain."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.gain.view(self.out_channels, 1, 1, 1)
        return self._conv_forward(x, weight, self.bias)


def gain_conv_net(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """stem (GainConv2d, 16 ch) -> conv (32 ch) -> conv (16 ch) -> GainConv2d (32 ch) -> pool -> classifier; with
    the GainConv2d layers ('0', '6') kept whole, the first plain conv's ('2') outputs can still be pruned."""
    return nn.Sequential(GainConv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),
                         nn.ReLU(), nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(), GainConv2d(16, 32, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes))
