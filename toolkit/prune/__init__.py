"""Structured channel pruning with Torch-Pruning's dependency graph (real, smaller tensors).

`config.py` holds the prune stage's options and `stage.py` runs it; the names below load on first use
(PEP 562), so that importing the options does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"PrunePlan": "toolkit.prune.channels", "channel_counts": "toolkit.prune.channels",
            "prune_once": "toolkit.prune.channels", "search_ratio": "toolkit.prune.search"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'toolkit.prune' has no attribute '{name}'")
