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


class GroupNormCnn(nn.Module):
    """Conv-GroupNorm(8 groups)-ReLU blocks: every channel count is coupled to its 8 normalisation groups."""

    def __init__(self, num_classes: int = 10, width: int = 32, groups: int = 8):
        super().__init__()
        self.conv1, self.gn1 = nn.Conv2d(3, width, 3, padding=1), nn.GroupNorm(groups, width)
        self.conv2, self.gn2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GroupNorm(groups, 2 * width)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.gn1(self.conv1(x)).relu()
        x = self.gn2(self.conv2(x)).relu()
        return self.fc(x.mean((2, 3)))


def groupnorm_cnn(num_classes: int = 10, width: int = 32) -> nn.Module:
    """GroupNormCnn factory ('user_models:groupnorm_cnn')."""
    return GroupNormCnn(num_classes, width)


class TupleNet(nn.Module):
    """Returns (logits, embedding), as many metric-learning and multi-task models do."""

    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                      nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        embedding = self.features(x).mean((2, 3))
        return self.fc(embedding), embedding


def tuple_net(num_classes: int = 10, width: int = 16) -> nn.Module:
    """TupleNet factory ('user_models:tuple_net')."""
    return TupleNet(num_classes, width)


class DictNet(TupleNet):
    """Returns {'embedding': ..., 'out': logits} (torchvision segmentation style keys)."""

    def forward(self, x):
        logits, embedding = super().forward(x)
        return {"embedding": embedding, "out": logits}


def dict_net(num_classes: int = 10, width: int = 16) -> nn.Module:
    """DictNet factory ('user_models:dict_net')."""
    return DictNet(num_classes, width)


class FixedViewNet(nn.Module):
    """An AlexNet-era head: `x.view(-1, 16 * 4 * 4)` with the feature size written into the code (16x16 input)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).view(-1, 256))


def fixed_view_net(num_classes: int = 10) -> nn.Module:
    """FixedViewNet factory ('user_models:fixed_view_net')."""
    return FixedViewNet(num_classes)


class GroupedConvCnn(nn.Module):
    """A ResNeXt-style block: a 4-group 3x3 convolution between two 1x1 convolutions."""

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.reduce = nn.Conv2d(width, width, 1)
        self.grouped = nn.Conv2d(width, width, 3, padding=1, groups=4)
        self.expand = nn.Conv2d(width, width, 1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.stem(x).relu()
        x = x + self.expand(self.grouped(self.reduce(x).relu()).relu())
        return self.fc(x.mean((2, 3)))


def grouped_conv_cnn(num_classes: int = 10, width: int = 32) -> nn.Module:
    """GroupedConvCnn factory ('user_models:grouped_conv_cnn')."""
    return GroupedConvCnn(num_classes, width)


def shaped_net(num_classes: int = 10, in_channels: int = 3, input_size: int | tuple[int, int] = 32) -> nn.Module:
    """Declares in_channels and input_size ('user_models:shaped_net'): the toolkit passes both; the flattened head
    needs the input size (height, width), so a wrong one fails at the first forward pass."""
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    model = nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * height * width, num_classes))
    model.built_with = (in_channels, input_size)
    return model
