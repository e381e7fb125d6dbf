"""The stage catalogue: importing it registers the built-in stages, in pipeline order, and re-exports their
configs (the Python API: `stages.Prune(method="l2", ...)`). Lookup by name loads installed plugins too.

Only this module imports a technique's `stage.py`; the registry it fills imports nothing above it.
"""

from __future__ import annotations

# ruff: noqa: I001  (the import order below is the registration order, so it is kept by hand)
from importlib import metadata

from toolkit.registry import STAGES, StageInfo

# Registration order is the order `compress stages` and docs/recipes.md list them: pipeline order.
from toolkit.train.stage import Train
from toolkit.prune.stage import Prune
from toolkit.distill.stage import Distill
from toolkit.export.stage import Export
from toolkit.quantize.stage import Quantize
from toolkit.engine.stage import Engine

__all__ = ["Train", "Prune", "Distill", "Export", "Quantize", "Engine", "get_stage", "stage_names",
           "load_entry_point_plugins", "PLUGIN_GROUP"]

PLUGIN_GROUP = "cnn_edge_toolkit.plugins"
_plugins_loaded: list[bool] = []  # a list, not a global flag rebound by `global`


def load_entry_point_plugins() -> None:
    """Import installed packages' plugins (entry-point group `cnn_edge_toolkit.plugins`), once."""
    if _plugins_loaded:
        return
    _plugins_loaded.append(True)
    for entry in metadata.entry_points(group=PLUGIN_GROUP):
        entry.load()


def get_stage(name: str) -> StageInfo:
    """Look up a registered stage by name (installed plugins are loaded on first use).

    Raises UnknownNameError (a KeyError) naming the close matches and every known stage."""
    load_entry_point_plugins()
    return STAGES.get(name)


def stage_names() -> list[str]:
    """Names of all registered stages: the built-in ones in pipeline order, then plugins."""
    load_entry_point_plugins()
    return STAGES.names()
