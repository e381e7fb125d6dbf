"""DataBundle: the train/val splits of one data set plus the batching every stage uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from toolkit.config import AugmentSpec, InputShape
from toolkit.data.images import Batch, FileImages, TensorImages


@dataclass
class DataBundle:
    """Train and validation images, class names, the input shape, normalisation and augmentation.

    `input_shape` is (channels, height, width) of every image a batch holds, as DataSpec.input_shape made it (or
    as the user's data set gives it); models, dummy inputs, ONNX and engine shapes are made from it. `mean` and
    `std` have one value per channel."""

    train: TensorImages | FileImages
    val: TensorImages | FileImages
    classes: list[str]
    input_shape: InputShape
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: AugmentSpec | None
    batch_size: int = 64
    eval_batch_size: int = 256
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def train_batches(self, epoch: int, seed: int, *, batch_size: int | None = None, augment: bool = True,
                      rank: int = 0, world: int = 1, with_index: bool = False) -> Iterator[Batch]:
        """One epoch of shuffled train batches; the order depends only on (seed, epoch, rank, world)."""
        gen = torch.Generator().manual_seed(seed * 100003 + epoch)
        order = torch.randperm(len(self.train), generator=gen)
        if world > 1:  # each rank takes an equal share (the tail is dropped so all ranks step together)
            per_rank = len(order) // world
            order = order[rank * per_rank : (rank + 1) * per_rank]
        bs = batch_size or self.batch_size
        return self.train.batches(order, bs, self.mean, self.std, self.augment if augment else None, gen,
                                  drop_last=len(order) > bs, with_index=with_index)

    def train_steps(self, batch_size: int | None = None, world: int = 1) -> int:
        """Number of optimiser steps per epoch for this batch size."""
        n = len(self.train) // world
        bs = batch_size or self.batch_size
        return max(1, n // bs) if n > bs else 1

    def val_batches(self, batch_size: int | None = None, limit: int | None = None) -> Iterator[Batch]:
        """Validation batches in a fixed order, never augmented."""
        n = len(self.val) if limit is None else min(limit, len(self.val))
        return self.val.batches(torch.arange(n), batch_size or self.eval_batch_size, self.mean, self.std,
                                None, None)

    def calibration_batches(self, samples: int, batch_size: int, seed: int) -> list[torch.Tensor]:
        """A seeded subset of the train split (never validation), unaugmented, as input batches."""
        gen = torch.Generator().manual_seed(seed + 7919)
        order = torch.randperm(len(self.train), generator=gen)[: min(samples, len(self.train))]
        return [x for x, _ in self.train.batches(order, batch_size, self.mean, self.std, None, None)]

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """Real validation images (repeated when the split is smaller) as an input batch, (batch_size, C, H, W)."""
        x, _ = next(iter(self.val.batches(torch.arange(min(len(self.val), batch_size)), batch_size,
                                          self.mean, self.std, None, None)))
        if x.shape[0] < batch_size:
            x = x.repeat((batch_size + x.shape[0] - 1) // x.shape[0], 1, 1, 1)[:batch_size]
        return x

    def on_streamed_bad_file(self, sink: Callable[[str, str], None]) -> None:
        """Send each file that streaming workers drop (damage found only by decoding) to sink(path, reason)."""
        for images in (self.train, self.val):
            if isinstance(images, FileImages):
                images.drops.sink = sink

    def describe(self) -> dict[str, Any]:
        """Plain-data description for run.json: sizes, classes, preprocessing."""
        return {"classes": self.classes, "train_samples": len(self.train), "val_samples": len(self.val),
                "image_size": self.input_shape.image_size, "channels": self.input_shape.channels,
                "mean": list(self.mean), "std": list(self.std),
                "augment": self.augment.model_dump() if self.augment else None,
                "in_memory": isinstance(self.train, TensorImages), **self.info}


def seeded_subset(images: TensorImages | FileImages, limit: int | None, seed: int):
    """Keep a seeded random subset of at most `limit` images (all when limit is None)."""
    if limit is None or limit >= len(images):
        return images
    gen = torch.Generator().manual_seed(seed + 104729)
    return images.subset(torch.randperm(len(images), generator=gen)[:limit].sort().values)
