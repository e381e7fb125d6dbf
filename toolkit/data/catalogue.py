"""Data sets by name, the built-in ones included: `build_data(spec, seed)` -> DataBundle."""

from __future__ import annotations

from typing import TYPE_CHECKING

import toolkit.data.builtin  # noqa: F401  (registers digits, synthetic, imagefolder, cifar10/100)
from toolkit.config import DataSpec
from toolkit.data.registry import DATASETS, DatasetInfo

if TYPE_CHECKING:  # the bundle imports torch; looking names up must not
    from toolkit.data.bundle import DataBundle


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of a data set name."""
    return DATASETS.get(name)


def dataset_names() -> list[str]:
    """All known data set names."""
    return DATASETS.names()


def build_data(spec: DataSpec, seed: int = 0) -> DataBundle:
    """Build the train/val bundle a recipe's `data:` describes."""
    return dataset_info(spec.dataset).factory(spec, seed)
