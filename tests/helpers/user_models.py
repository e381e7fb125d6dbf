"""A user's own model factory, referenced as 'user_models:tiny_net' in tests."""

from torch import nn


def tiny_net(num_classes: int = 10, width: int = 8) -> nn.Module:
    """Conv-BN-ReLU, global pool, linear."""
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


class SmallCnn(nn.Module):
    """Three conv-BN-ReLU blocks and a linear head (few layers: quick sensitivity scans in tests)."""

    def __init__(self, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.bn1(self.conv1(x)).relu()
        x = self.bn2(self.conv2(x)).relu()
        x = self.bn3(self.conv3(x)).relu()
        return self.fc(x.mean((2, 3)))


def small_cnn(num_classes: int = 10, width: int = 8) -> nn.Module:
    """SmallCnn factory ('user_models:small_cnn')."""
    return SmallCnn(num_classes, width)
