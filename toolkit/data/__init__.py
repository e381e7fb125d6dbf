"""Data sets by name: `build_data(spec, seed)` -> DataBundle; custom ones via `register_dataset`."""

from __future__ import annotations

from toolkit.config import DataSpec
from toolkit.data.bundle import DataBundle
from toolkit.data.registry import DATASETS, DatasetInfo, register_dataset


def _load_builtins() -> None:
    from toolkit.data import builtin  # noqa: F401  (registers digits, synthetic, imagefolder, cifar*)


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of a data set name."""
    _load_builtins()
    return DATASETS.get(name)


def dataset_names() -> list[str]:
    """All known data set names."""
    _load_builtins()
    return DATASETS.names()


def build_data(spec: DataSpec, seed: int = 0) -> DataBundle:
    """Build the train/val bundle a recipe's `data:` describes."""
    return dataset_info(spec.dataset).factory(spec, seed)


__all__ = ["DATASETS", "DataBundle", "DatasetInfo", "build_data", "dataset_info", "dataset_names", "register_dataset"]
