"""Data sets by name: `build_data(spec, seed)` -> DataBundle; custom ones via `register_dataset`."""

from toolkit.data.bundle import DataBundle
from toolkit.data.catalogue import build_data, dataset_info, dataset_names
from toolkit.data.registry import DATASETS, DatasetInfo, register_dataset

__all__ = ["DATASETS", "DataBundle", "DatasetInfo", "build_data", "dataset_info", "dataset_names", "register_dataset"]
