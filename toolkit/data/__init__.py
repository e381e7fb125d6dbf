"""Data sets by name: `build_data(spec, seed)` -> DataBundle; custom ones via `register_dataset`.

Naming and checking data sets imports no torch; `DataBundle` (torch) is loaded on first use (PEP 562).
"""

from typing import TYPE_CHECKING, Any

from toolkit.data.catalogue import build_data, dataset_info, dataset_names
from toolkit.data.registry import DATASETS, DatasetInfo, register_dataset

if TYPE_CHECKING:  # type checkers and the API docs see it here; at run time __getattr__ imports it on first use
    from toolkit.data.bundle import DataBundle

_LAZY = {"DataBundle": "toolkit.data.bundle"}

__all__ = ["DATASETS", "DataBundle", "DatasetInfo", "build_data", "dataset_info", "dataset_names", "register_dataset"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
