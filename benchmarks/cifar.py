"""Locate or extract the CIFAR-10 JPEG archive from ../shared/data for benchmarks."""

from __future__ import annotations

import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
DATA = REPO / "data" / "cifar10"


def cifar10_root(data: Path = DATA, archive: Path = ARCHIVE) -> Path | None:
    """The ImageFolder root of CIFAR-10, extracted from the shared archive when needed; None when absent."""
    if (data / "train").is_dir() and (data / "test").is_dir():
        return data
    if not archive.is_file():
        return None
    data.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(data, filter="data")
    return data
