"""One tiny member of each torchvision family whose smallest model is too large for a unit-test budget.

Each is built from the family's own torchvision class and blocks with narrow widths and few layers,
so pruning, export and quantization meet the same module patterns (grouped bottlenecks, LayerNorm
blocks, 4096-wide classifiers made narrow) in seconds.
"""

from __future__ import annotations

from torch import nn


def narrow_head(features: int, num_classes: int) -> nn.Sequential:
    """AlexNet/VGG's classifier shape (dropout, linear, relu, dropout, linear, relu, linear), 64 wide."""
    return nn.Sequential(nn.Dropout(0.5), nn.Linear(features, 64), nn.ReLU(True), nn.Dropout(0.5),
                         nn.Linear(64, 64), nn.ReLU(True), nn.Linear(64, num_classes))


def alexnet(num_classes: int = 10) -> nn.Module:
    """torchvision AlexNet (its features), with a 64-wide classifier instead of 4096."""
    from torchvision.models import AlexNet

    model = AlexNet(num_classes=num_classes)
    model.classifier = narrow_head(256 * 6 * 6, num_classes)
    return model


def vgg(num_classes: int = 10) -> nn.Module:
    """torchvision VGG with make_layers (BatchNorm), 16-64 channels, a 64-wide classifier."""
    from torchvision.models.vgg import VGG, make_layers

    model = VGG(make_layers([16, "M", 32, "M", 64, 64, "M"], batch_norm=True), num_classes=num_classes)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = narrow_head(64, num_classes)
    return model


def resnext(num_classes: int = 10) -> nn.Module:
    """torchvision ResNet with Bottleneck blocks, groups=8, width_per_group=4, one block per stage."""
    from torchvision.models.resnet import Bottleneck, ResNet

    return ResNet(Bottleneck, [1, 1, 1, 1], num_classes=num_classes, groups=8, width_per_group=4)


def wide_resnet(num_classes: int = 10) -> nn.Module:
    """torchvision ResNet with Bottleneck blocks twice as wide inside (width_per_group=128), one per stage,
    stem and first stage narrowed."""
    from torchvision.models.resnet import Bottleneck, ResNet

    return ResNet(Bottleneck, [1, 1, 1, 1], num_classes=num_classes, width_per_group=32)


def convnext(num_classes: int = 10) -> nn.Module:
    """torchvision ConvNeXt: two stages of one CNBlock (16 and 32 channels)."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=num_classes)


def densenet(num_classes: int = 10) -> nn.Module:
    """torchvision DenseNet (densenet121's dense layers, concatenations and transitions), growth rate 8,
    two dense layers per block, 16 stem channels."""
    from torchvision.models import DenseNet

    return DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, num_classes=num_classes)


def regnet(num_classes: int = 10) -> nn.Module:
    """torchvision RegNet with regnet_x_400mf's blocks (grouped bottlenecks, projected shortcuts, no SE):
    two stages of 16 and 32 channels, group width 8."""
    from torchvision.models.regnet import BlockParams, RegNet

    params = BlockParams.from_init_params(depth=4, w_0=16, w_a=8.0, w_m=2.0, group_width=8)
    return RegNet(params, num_classes=num_classes, stem_width=16)


def efficientnet(num_classes: int = 10) -> nn.Module:
    """torchvision EfficientNet with efficientnet_b0's MBConv blocks (depthwise, squeeze-excitation,
    stochastic depth on the residual ones): three stages of 16-40 channels, a 64-wide head."""
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    settings = [MBConvConfig(1, 3, 1, 16, 16, 1), MBConvConfig(6, 3, 2, 16, 24, 2), MBConvConfig(6, 5, 2, 24, 40, 1)]
    return EfficientNet(settings, 0.2, num_classes=num_classes, last_channel=64)


def _quarter_convs(conv_block: type[nn.Module]):
    """A conv-block factory with a quarter of the channels the family's class asks for (not the RGB input):
    every channel count in GoogLeNet and Inception3 is a multiple of 4, so the concatenations still add up."""
    def quarter(in_channels: int, out_channels: int, **kwargs) -> nn.Module:
        return conv_block(in_channels if in_channels == 3 else in_channels // 4, out_channels // 4, **kwargs)

    return quarter


def googlenet(num_classes: int = 10) -> nn.Module:
    """torchvision GoogLeNet (its stem and nine Inception blocks), every convolution a quarter as wide."""
    import importlib

    tv = importlib.import_module("torchvision.models.googlenet")  # the module; the package exports the function
    conv = _quarter_convs(tv.BasicConv2d)
    model = tv.GoogLeNet(num_classes=num_classes, aux_logits=False, init_weights=True,
                         blocks=[conv, lambda *args: tv.Inception(*args, conv_block=conv), tv.InceptionAux])
    model.fc = nn.Linear(model.fc.in_features // 4, num_classes)
    return model


def inception(num_classes: int = 10) -> nn.Module:
    """torchvision Inception3 (inception_v3's stem and its A-E blocks), every convolution a quarter as wide."""
    import importlib

    tv = importlib.import_module("torchvision.models.inception")
    conv = _quarter_convs(tv.BasicConv2d)
    blocks = [conv] + [lambda *args, _block=block, **kwargs: _block(*args, conv_block=conv, **kwargs)
                       for block in (tv.InceptionA, tv.InceptionB, tv.InceptionC, tv.InceptionD, tv.InceptionE)]
    model = tv.Inception3(num_classes=num_classes, aux_logits=False, init_weights=True,
                          inception_blocks=blocks + [tv.InceptionAux])
    model.fc = nn.Linear(model.fc.in_features // 4, num_classes)
    return model
