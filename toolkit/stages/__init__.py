"""The stage catalogue: importing it registers the built-in stages, in pipeline order, and re-exports their
configs (the Python API: `stages.Prune(method="l2", ...)`). Lookup by name loads installed plugins too.

Each technique folder has `config.py` (its options, no torch) and `stage.py` (the function that runs it, the
only file that sees the stage context). This module imports the configs and names the functions by path; a
function's module is imported when the stage first runs, so validating a recipe or listing stages does not
load torch through the stages. No other module refers to a `stage.py`.
"""

from __future__ import annotations

from importlib import metadata

from toolkit.artifacts import ONNX, ONNX_INT8, TENSORRT, TORCH
from toolkit.distill.config import Distill
from toolkit.engine.config import Engine
from toolkit.export.config import Export
from toolkit.prune.config import Prune
from toolkit.quantize.config import Quantize
from toolkit.registry import STAGES, StageInfo, register_stage_by_path
from toolkit.train.config import Train

# Registration order is the order `compress stages` and docs/recipes.md list them: pipeline order.
_BUILTIN = [
    ("train", Train, "toolkit.train.stage:train", (TORCH,), TORCH,
     "Train the model on the recipe's data (resumes from the last epoch checkpoint)."),
    ("prune", Prune, "toolkit.prune.stage:prune", (TORCH,), TORCH,
     "Remove whole channels (Torch-Pruning), optionally in steps with fine-tuning between them."),
    ("distill", Distill, "toolkit.distill.stage:distill", (TORCH,), TORCH,
     "Train the current model as a student of a teacher (KL on softened logits + CE, optional hints)."),
    ("export", Export, "toolkit.export.stage:export", (TORCH,), ONNX,
     "Export the model to ONNX and check it against torch on real validation images."),
    ("quantize", Quantize, "toolkit.quantize.stage:quantize_stage", (TORCH, ONNX), ONNX_INT8,
     "INT8 Q/DQ ONNX: calibrate (cached), quantize, and keep sensitive layers in float if accuracy demands."),
    ("engine", Engine, "toolkit.engine.stage:engine", (TORCH, ONNX, ONNX_INT8), TENSORRT,
     "Build TensorRT engines (skipped, with the reason, where TensorRT or a GPU is missing)."),
]
for _name, _config, _target, _needs, _makes, _help in _BUILTIN:
    if _name not in STAGES:  # a test that reloads this module must not register twice
        register_stage_by_path(_name, _config, _target, needs=_needs, makes=_makes, help=_help)

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
