"""Data sets by name: `build_data(spec, seed)` -> DataBundle; custom ones via `register_dataset`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from toolkit.data.bundle import DataBundle
from toolkit.registry import Registry
from toolkit.config import DataSpec


@dataclass(frozen=True)
class DatasetInfo:
    """A data set factory and what it needs."""

    factory: Callable[[DataSpec, int], DataBundle]
    needs_root: bool
    downloads: bool
    help: str


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(name: str, *, needs_root: bool = False, downloads: bool = False
                     ) -> Callable[[Callable[[DataSpec, int], DataBundle]], Callable[[DataSpec, int], DataBundle]]:
    """Decorator: register `factory(spec, seed) -> DataBundle` as data set `name` (usable as `data.dataset`)."""

    def wrap(factory: Callable[[DataSpec, int], DataBundle]) -> Callable[[DataSpec, int], DataBundle]:
        doc = (factory.__doc__ or "").strip().splitlines()
        DATASETS.add(name, DatasetInfo(factory, needs_root, downloads, doc[0] if doc else ""))
        return factory

    return wrap


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


__all__ = ["DataBundle", "DatasetInfo", "build_data", "dataset_info", "dataset_names", "register_dataset"]
