"""The built-in in-memory data sets (digits, synthetic, CIFAR) as tensors; `builtin.py` registers them by name
without importing this module, so that naming and checking a data set needs no torch."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from toolkit.config import AugmentSpec, DataSpec
from toolkit.data.bundle import DataBundle, seeded_subset
from toolkit.data.images import TensorImages
from toolkit.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L"): channels: 1 of an RGB data set


def _stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a float [0,1] image tensor."""
    flat = images.float().transpose(0, 1).reshape(images.shape[1], -1)
    mean, std = flat.mean(1).tolist(), flat.std(1).clamp_min(1e-3).tolist()
    return tuple(round(v, 4) for v in mean), tuple(round(v, 4) for v in std)


def _bundle(spec: DataSpec, seed: int, train: TensorImages, val: TensorImages, classes: list[str],
            default_augment: AugmentSpec | None, mean=None, std=None, info=None) -> DataBundle:
    train = seeded_subset(train, spec.limit_train, seed)
    val = seeded_subset(val, spec.limit_val, seed + 1)
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"data set '{spec.dataset}' is empty (train {len(train)}, val {len(val)} images)")
    if mean is None or std is None:
        mean, std = _stats(train.images if train.images.dtype != torch.uint8 else train.images[:4096] / 255.0)
    return DataBundle(train, val, classes, spec.input_shape, tuple(spec.mean or mean), tuple(spec.std or std),
                      spec.augment if spec.augment is not None else default_augment,
                      spec.batch_size, spec.eval_batch_size, info or {})


def _split(n: int, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    classes = len(np.unique(labels))
    if round(n * fraction) < classes or n - round(n * fraction) < classes:
        raise DataError(f"{n} images split {1 - fraction:.0%}/{fraction:.0%} leave fewer images than the {classes} "
                        f"classes in one split; use more images or another data.val_fraction")
    return train_test_split(idx, test_size=fraction, random_state=seed, stratify=labels)


def digits_bundle(spec: DataSpec, seed: int) -> DataBundle:
    """scikit-learn's 1,797 handwritten 8x8 digits, upsampled to image_size, in data.channels (gray repeated)."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    shape = spec.input_shape
    images = torch.tensor(raw.images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=(shape.height, shape.width), mode="bilinear", align_corners=False)
    images = images.clamp_(0, 1).repeat(1, shape.channels, 1, 1).contiguous()
    labels = torch.tensor(raw.target, dtype=torch.long)
    tr, va = _split(len(labels), raw.target, spec.val_fraction, seed)
    whole = TensorImages(images, labels)
    augment = AugmentSpec(crop="pad", padding=max(1, min(shape.height, shape.width) // 16), flip=False)
    return _bundle(spec, seed, whole.subset(torch.from_numpy(tr)), whole.subset(torch.from_numpy(va)),
                   [str(d) for d in range(10)], augment, info={"source": "sklearn.datasets.load_digits"})


def synthetic_bundle(spec: DataSpec, seed: int) -> DataBundle:
    """Random images around one seeded prototype per class (for tests: learnable, tiny, instant)."""
    gen = torch.Generator().manual_seed(seed + 31337)
    shape, n, k = spec.input_shape, spec.num_samples, spec.num_classes
    prototypes = torch.rand((k, *shape), generator=gen)
    labels = torch.arange(n) % k
    noise = torch.rand((n, *shape), generator=gen)
    images = (0.6 * prototypes[labels] + 0.4 * noise).contiguous()
    tr, va = _split(n, labels.numpy(), spec.val_fraction, seed)
    whole = TensorImages(images, labels)
    return _bundle(spec, seed, whole.subset(torch.from_numpy(tr)), whole.subset(torch.from_numpy(va)),
                   [f"class_{i}" for i in range(k)], AugmentSpec(crop="none", flip=False),
                   info={"source": "synthetic"})


def cifar_bundle(spec: DataSpec, seed: int, name: str) -> DataBundle:
    """CIFAR-10 or CIFAR-100 (`name`) through torchvision, from the python archive under spec.root."""
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        train = cls(str(spec.root), train=True, download=spec.download)
        val = cls(str(spec.root), train=False, download=spec.download)
    except (RuntimeError, OSError) as exc:
        raise DataError(
            f"{name} not found under {spec.root} ({exc}); put torchvision's extracted archive there, "
            f"set data.download: true where a network is reachable, or use dataset: imagefolder for JPEG folders"
        ) from None

    shape = spec.input_shape

    def as_tensor(ds) -> TensorImages:
        images = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        if shape.channels == 1:
            luma = torch.tensor(LUMA).view(1, 3, 1, 1)
            images = (images.float() * luma).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
        if (shape.height, shape.width) != tuple(images.shape[-2:]):
            images = F.interpolate(images.float(), size=(shape.height, shape.width), mode="bilinear",
                                   align_corners=False).round_().clamp_(0, 255).to(torch.uint8)
        return TensorImages(images, torch.tensor(ds.targets, dtype=torch.long))

    augment = AugmentSpec(crop="pad", padding=max(1, min(shape.height, shape.width) // 8), flip=True)
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if shape.channels == 3 else (None, None)  # gray: measured
    return _bundle(spec, seed, as_tensor(train), as_tensor(val), list(train.classes), augment,
                   mean, std, {"source": f"torchvision.datasets.{cls.__name__}"})
