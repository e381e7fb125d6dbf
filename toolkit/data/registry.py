"""The data set registry: name -> factory(spec, seed) -> DataBundle (built-in ones register in `builtin.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.config import DataSpec
from toolkit.registry import Registry

if TYPE_CHECKING:  # the bundle imports torch; a name registry must not
    from toolkit.data.bundle import DataBundle


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
