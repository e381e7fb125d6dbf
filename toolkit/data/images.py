"""Image sets: decoded tensors kept in memory, or files streamed through DataLoader workers."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from toolkit.config import AugmentSpec, InputShape
from toolkit.data.drops import Dropped, StreamDrops

Batch = tuple[torch.Tensor, torch.Tensor]


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Scale a [0,1] batch (or uint8 0..255) and normalise it per channel."""
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def pad_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding, a different offset per image, vectorised over the batch."""
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
    return padded[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]


def random_resized_crop(x: torch.Tensor, gen: torch.Generator, scale=(0.25, 1.0)) -> torch.Tensor:
    """Random-resized crop per image (area share in `scale`, aspect 3/4..4/3), back to the input size."""
    b, _, h, w = x.shape
    out = torch.empty_like(x)
    for i in range(b):
        area = h * w * float(torch.empty(1).uniform_(*scale, generator=gen))
        ratio = math.exp(float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3), generator=gen)))
        ch = max(1, min(h, round(math.sqrt(area / ratio))))
        cw = max(1, min(w, round(math.sqrt(area * ratio))))
        top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
        crop = x[i : i + 1, :, top : top + ch, left : left + cw]
        out[i] = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
    return out


def random_erase(x: torch.Tensor, p: float, gen: torch.Generator, scale=(0.02, 0.33),
                 ratio=(0.3, 3.3)) -> torch.Tensor:
    """Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020) of a normalised (N,C,H,W)
    batch: with probability `p` per image, a rectangle of `scale` of the area and aspect in `ratio` is set to 0,
    the mean colour after normalisation (as Cutout does). torchvision's RandomErasing erases one rectangle for
    the whole batch and draws from the global RNG; this draws per image from `gen`, vectorised."""
    b, _, h, w = x.shape
    area = h * w * torch.empty(b).uniform_(*scale, generator=gen)
    aspect = torch.exp(torch.empty(b).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen))
    eh = torch.sqrt(area * aspect).round().clamp(1, h).long()
    ew = torch.sqrt(area / aspect).round().clamp(1, w).long()
    top = (torch.rand(b, generator=gen) * (h - eh + 1)).long()
    left = (torch.rand(b, generator=gen) * (w - ew + 1)).long()
    erased = torch.rand(b, generator=gen) < p
    rows = torch.arange(h)[None, :, None]
    cols = torch.arange(w)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + eh)[:, None, None]) & (cols >= left[:, None, None])
              & (cols < (left + ew)[:, None, None]) & erased[:, None, None])
    return x.masked_fill(inside[:, None].to(x.device), 0.0)


def augment_batch(x: torch.Tensor, spec: AugmentSpec, gen: torch.Generator) -> torch.Tensor:
    """Apply train-time augmentation to a float [0,1] batch."""
    if spec.crop == "pad":
        x = pad_crop(x, spec.padding, gen)
    elif spec.crop == "random_resized":
        x = random_resized_crop(x, gen)
    if spec.flip:
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


@dataclass
class TensorImages:
    """Images decoded once: uint8 (N,C,H,W) or float in [0,1], with int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: torch.Tensor) -> TensorImages:
        """A view restricted to `indices`."""
        return TensorImages(self.images[indices], self.labels[indices])

    def batches(self, order: torch.Tensor, batch_size: int, mean, std, augment: AugmentSpec | None,
                gen: torch.Generator | None, drop_last: bool = False, with_index: bool = False) -> Iterator:
        """Yield normalised (images, labels[, indices]) batches in `order`, augmented when `augment` is given."""
        stop = len(order) - (len(order) % batch_size if drop_last and len(order) >= batch_size else 0)
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            x = self.images[idx]
            x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
            if augment is not None and gen is not None:
                x = augment_batch(x, augment, gen)
            x = normalize(x, mean, std)
            if augment is not None and gen is not None and augment.erase > 0:
                x = random_erase(x, augment.erase, gen)
            yield (x, self.labels[idx], idx) if with_index else (x, self.labels[idx])


@dataclass
class FileImages:
    """Image files streamed from disk (large data sets); decoding happens in DataLoader workers."""

    files: list[tuple[Path, int]]
    shape: InputShape  # what each file is decoded to: channels, height, width
    workers: int = 2
    drops: StreamDrops = field(default_factory=StreamDrops)  # shared by subsets: one record per data set

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, indices: torch.Tensor) -> FileImages:
        """A view restricted to `indices`."""
        return FileImages([self.files[int(i)] for i in indices], self.shape, self.workers, self.drops)

    def batches(self, order: torch.Tensor, batch_size: int, mean, std, augment: AugmentSpec | None,
                gen: torch.Generator | None, drop_last: bool = False, with_index: bool = False) -> Iterator[Batch]:
        """Yield normalised batches decoded by worker processes (indices are not available when streaming)."""
        if with_index:
            raise ValueError("per-sample indices need an in-memory data set")
        from torch.utils.data import DataLoader

        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen)) if gen is not None else 0
        dataset = _FileDataset(self.files, self.shape, mean, std, augment, seed)
        loader = DataLoader(dataset, batch_size=batch_size, sampler=order.tolist(), num_workers=self.workers,
                            drop_last=drop_last, persistent_workers=False, collate_fn=_collate_valid,
                            # fork() copies a process whose ONNX Runtime / OpenVINO / OpenMP threads hold locks;
                            # the suite segfaulted there. A fork server starts workers from a clean process.
                            multiprocessing_context="forkserver" if self.workers > 0 else None)
        for batch, dropped in loader:
            self.drops.record(dropped)  # to the run's log.txt, or DataError with on_bad_file: error
            if batch is not None:
                yield batch


def _collate_valid(items: list[Any]) -> tuple[Batch | None, list[Dropped]]:
    """Collate the decoded images; files that failed to decode come back as Dropped, to be listed."""
    dropped = [item for item in items if isinstance(item, Dropped)]
    good = [item for item in items if not isinstance(item, Dropped)]
    if not good:
        return None, dropped
    return (torch.stack([g[0] for g in good]), torch.tensor([g[1] for g in good], dtype=torch.long)), dropped


class _FileDataset(torch.utils.data.Dataset):
    """Decodes one file per item with torchvision transforms; a broken file yields Dropped(path, reason)."""

    def __init__(self, files, shape: InputShape, mean, std, augment: AugmentSpec | None, seed: int):
        from torchvision.transforms import v2

        self.files, self.shape = files, shape
        size = (shape.height, shape.width)
        self.resized = augment is None or augment.crop != "random_resized"
        # ImageNet-style evaluation: cover size/0.875 (aspect kept), centre crop; small images are fitted exactly
        self.cover = size if min(size) <= 64 else (round(size[0] / 0.875), round(size[1] / 0.875))
        steps: list[Any] = [v2.ToImage()]
        if not self.resized:
            steps.append(v2.RandomResizedCrop(size, antialias=True))
        else:
            steps.append(v2.CenterCrop(size))
            if augment is not None and augment.crop == "pad" and augment.padding:
                steps.append(v2.RandomCrop(size, padding=augment.padding))
        if augment is not None and augment.flip:
            steps.append(v2.RandomHorizontalFlip())
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
        if augment is not None and augment.erase > 0:  # one image per call here, so torchvision's own will do
            steps.append(v2.RandomErasing(p=augment.erase, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0))
        self.transform = v2.Compose(steps)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        from toolkit.data.decode import fit, open_image_checked

        path, label = self.files[index]
        image, why = open_image_checked(path, self.shape.channels)
        if image is None:
            return Dropped(str(path), why or "cannot be decoded")
        if self.resized:
            image = fit(image, *self.cover)
        # Per-item seed, in a forked RNG: augmentation does not depend on worker count, and the
        # caller's random state is untouched when workers=0 decodes in this process.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + index)
            return self.transform(image), label
