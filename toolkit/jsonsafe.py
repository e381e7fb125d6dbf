"""Strict JSON values: NaN and infinities (which `json` would write as bare NaN/Infinity tokens) become null."""

from __future__ import annotations

import math
from typing import Any


def finite_json(value: Any, where: str = "") -> tuple[Any, list[str]]:
    """Return `value` with every non-finite float replaced by None, and the JSON paths that were replaced.

    numpy and torch scalars and arrays are converted to plain Python values on the way (`.tolist()`).
    """
    replaced: list[str] = []
    return _clean(value, where, replaced), replaced


def _clean(value: Any, where: str, replaced: list[str]) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        replaced.append(where or "$")
        return None
    if isinstance(value, dict):
        return {key: _clean(item, f"{where}.{key}" if where else str(key), replaced) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item, f"{where}[{i}]", replaced) for i, item in enumerate(value)]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return _clean(value.tolist(), where, replaced)
    if hasattr(value, "item"):
        return _clean(value.item(), where, replaced)
    return value  # Paths and the like: json's `default` hook turns them into strings
