"""torchvision classifiers by name: offline weights from the torch hub cache, small-input stems."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from toolkit.errors import ArtifactError, UserInputError


def torchvision_names() -> list[str]:
    """Names of torchvision's classification models."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _weights_enum(arch: str, name: str):
    import torchvision

    try:
        if "." in name:
            return torchvision.models.get_weight(name)
        return torchvision.models.get_model_weights(arch)[name]
    except (KeyError, ValueError, AttributeError):
        choices = [w.name for w in torchvision.models.get_model_weights(arch)]
        raise UserInputError(f"model.weights: unknown weights '{name}' for {arch}; "
                             f"known: {', '.join(choices)}") from None


def load_pretrained(model: nn.Module, arch: str, name: str) -> list[str]:
    """Load torchvision weights from the local hub cache (never the network); return keys left at init."""
    weights = _weights_enum(arch, name)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        raise ArtifactError(f"model.weights: {weights} is not in the local cache and nothing is downloaded at "
                            f"run time; fetch {weights.url} and save it as {cached}")
    try:
        state = torch.load(cached, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported with its path
        raise ArtifactError(f"{cached}: cannot read weights ({exc})") from None
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def adapt_small_input(model: nn.Module, arch: str) -> None:
    """Make an ImageNet stem keep resolution on 32x32 inputs: first conv stride 1, early max-pool removed."""
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is None:
        raise UserInputError(f"model.small_input: {arch} has no convolution to adapt")
    if hasattr(model, "conv1") and hasattr(model, "maxpool") and isinstance(model.conv1, nn.Conv2d):
        out = model.conv1.out_channels  # ResNet family: the classic CIFAR stem
        model.conv1 = nn.Conv2d(model.conv1.in_channels, out, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
        return
    first_conv.stride = (1, 1)
    for owner, attr in ((model, "maxpool1"), (getattr(model, "features", None), "pool0")):
        if owner is not None and isinstance(getattr(owner, attr, None), nn.MaxPool2d):
            setattr(owner, attr, nn.Identity())


def adapt_in_channels(model: nn.Module, channels: int, arch: str) -> None:
    """Rebuild the first convolution (in module order: the stem) to take `channels` input channels.

    Its weights, pretrained or not, are summed over the input channels and spread evenly over the new ones (for
    one channel: the RGB filters summed, as a gray image is R = G = B), so that the stem's response is kept. No
    change when it already takes `channels`. Raises UserInputError for a model without a convolution."""
    name, conv = "", None
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            conv, name = module, module_name
            break
    if conv is None:
        raise UserInputError(f"data.channels: {arch} has no convolution to build for {channels} input channels")
    if conv.in_channels == channels:
        return
    if conv.groups != 1:
        raise UserInputError(f"data.channels: {arch}'s first convolution is grouped ({conv.groups} groups) and "
                             f"cannot be rebuilt for {channels} input channels")
    new = nn.Conv2d(channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    bias=conv.bias is not None, padding_mode=conv.padding_mode)
    with torch.no_grad():
        summed = conv.weight.sum(dim=1, keepdim=True)
        new.weight.copy_(summed.repeat(1, channels, 1, 1) / channels)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)


def build_torchvision(arch: str, num_classes: int, weights: str | None, small_input: bool,
                      kwargs: dict, channels: int = 3) -> nn.Module:
    """Build a torchvision classifier with `num_classes` outputs for `channels`-channel images (its first
    convolution rebuilt by adapt_in_channels when not 3, after loading weights)."""
    import torchvision

    extra = dict(kwargs)
    if arch in ("googlenet", "inception_v3"):
        extra.setdefault("aux_logits", False)
        extra.setdefault("init_weights", True)
    try:
        model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes, **extra)
    except TypeError as exc:
        raise UserInputError(f"model.kwargs: {arch} does not take these arguments ({exc})") from None
    if weights:
        load_pretrained(model, arch, weights)
    if small_input:
        adapt_small_input(model, arch)
    adapt_in_channels(model, channels, arch)
    return model
