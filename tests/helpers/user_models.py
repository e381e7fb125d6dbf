"""A user's own model factory, referenced as 'user_models:tiny_net' in tests."""

from torch import nn


def tiny_net(num_classes: int = 10, width: int = 8) -> nn.Module:
    """Conv-BN-ReLU, global pool, linear."""
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
