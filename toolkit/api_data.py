"""Bring your own data: torch Dataset or DataLoader pairs as a DataBundle."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from toolkit.data.bundle import DataBundle
from toolkit.errors import UserInputError


@dataclass
class DatasetImages:
    """A user's Dataset of (image tensor, label) pairs, already transformed by the user's own transforms."""

    dataset: Any
    workers: int = 0

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def labels(self) -> torch.Tensor:
        """Labels in dataset order (read once, used for calibration labels)."""
        if not hasattr(self, "_labels"):
            self._labels = torch.tensor([int(self.dataset[i][1]) for i in range(len(self.dataset))])
        return self._labels

    def subset(self, indices: torch.Tensor) -> DatasetImages:
        """A view restricted to `indices`."""
        return DatasetImages(torch.utils.data.Subset(self.dataset, indices.tolist()), self.workers)

    def batches(self, order: torch.Tensor, batch_size: int, mean, std, augment, gen, drop_last: bool = False,
                with_index: bool = False) -> Iterator:
        """Batches in `order` through a DataLoader (normalisation and augmentation are the user's transforms)."""
        if with_index:
            raise ValueError("per-sample indices are not available for user datasets")
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=batch_size, sampler=order.tolist(),
                                             num_workers=self.workers, drop_last=drop_last)
        for images, labels in loader:
            yield images.float(), torch.as_tensor(labels, dtype=torch.long)


def _dataset(obj: Any, role: str):
    if isinstance(obj, torch.utils.data.DataLoader):
        return obj.dataset, obj.batch_size
    if hasattr(obj, "__getitem__") and hasattr(obj, "__len__"):
        return obj, None
    raise UserInputError(f"data: the {role} part must be a torch Dataset or DataLoader, not {type(obj).__name__}")


def bundle_from_datasets(train: Any, val: Any, num_classes: int | None = None, batch_size: int = 64,
                         workers: int = 0) -> DataBundle:
    """Wrap (train, val) Datasets or DataLoaders; class count from `.classes`, else from `num_classes`."""
    train_ds, train_bs = _dataset(train, "train")
    val_ds, val_bs = _dataset(val, "validation")
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise UserInputError(f"data: empty dataset (train {len(train_ds)}, validation {len(val_ds)} items)")
    first = train_ds[0]
    if not (isinstance(first, (tuple, list)) and len(first) >= 2 and isinstance(first[0], torch.Tensor)
            and first[0].ndim == 3):
        raise UserInputError("data: items must be (image tensor C x H x W, label) pairs; add a ToTensor transform")
    classes = list(getattr(train_ds, "classes", []) or [])
    if not classes:
        if num_classes is None:
            raise UserInputError("data: give num_classes= (the dataset has no .classes attribute)")
        classes = [str(i) for i in range(num_classes)]
    size = int(first[0].shape[-1])
    # The user's transforms already normalise: mean 0 / std 1 keeps the tensors as they are.
    return DataBundle(DatasetImages(train_ds, workers), DatasetImages(val_ds, workers), classes, size, (0.0,) * 3,
                      (1.0,) * 3, None, train_bs or batch_size, val_bs or batch_size,
                      {"source": f"user datasets {type(train_ds).__name__}/{type(val_ds).__name__}"})
