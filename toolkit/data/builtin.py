"""Built-in data sets by name: scikit-learn digits, synthetic tensors, ImageFolder trees, torchvision CIFAR.

Only names and help live here: each loader imports its module (and torch) when it builds, so that listing and
checking data set names (`compress validate --schema-only`) needs no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.config import DataSpec
from toolkit.data.registry import register_dataset

if TYPE_CHECKING:
    from toolkit.data.bundle import DataBundle


@register_dataset("digits")
def digits(spec: DataSpec, seed: int) -> DataBundle:
    """scikit-learn's 1,797 handwritten 8x8 digits, upsampled to image_size, in data.channels (ships offline)."""
    from toolkit.data.tensor_sets import digits_bundle

    return digits_bundle(spec, seed)


@register_dataset("synthetic")
def synthetic(spec: DataSpec, seed: int) -> DataBundle:
    """Random images around one seeded prototype per class (for tests: learnable, tiny, instant)."""
    from toolkit.data.tensor_sets import synthetic_bundle

    return synthetic_bundle(spec, seed)


@register_dataset("cifar10", needs_root=True, downloads=True)
def cifar10(spec: DataSpec, seed: int) -> DataBundle:
    """CIFAR-10 through torchvision (python archive under root; download: true where online)."""
    from toolkit.data.tensor_sets import cifar_bundle

    return cifar_bundle(spec, seed, "cifar10")


@register_dataset("cifar100", needs_root=True, downloads=True)
def cifar100(spec: DataSpec, seed: int) -> DataBundle:
    """CIFAR-100 through torchvision (python archive under root; download: true where online)."""
    from toolkit.data.tensor_sets import cifar_bundle

    return cifar_bundle(spec, seed, "cifar100")


@register_dataset("imagefolder", needs_root=True)
def imagefolder(spec: DataSpec, seed: int) -> DataBundle:
    """root/train/<class>/* and root/val|test/<class>/* (the ImageNet layout)."""
    from toolkit.data.folder import build_imagefolder

    return build_imagefolder(spec, seed)
