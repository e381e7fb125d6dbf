"""Edge-efficiency toolkit: compress image-classification CNNs and measure every step.

    from toolkit import Pipeline, stages, load_recipe, run_recipe, load_model
    run = Pipeline(model=my_module, data=(train_ds, val_ds), stages=[stages.Train(epochs=3)]).run("runs/mine")

Heavy modules (torch, ONNX) load on first use of a name, so `import toolkit` stays cheap. load_model, run_recipe,
load_recipe, build_model, build_data, get_runtime, get_stage and write_report come from toolkit.api, which checks
their arguments first: a wrong one is a UserInputError that names it.
"""

from __future__ import annotations

import importlib
from typing import Any

from toolkit.version import __version__

_EXPORTS = {
    "Pipeline": "toolkit.api", "model_fingerprint": "toolkit.api",
    "RunResult": "toolkit.run.pipeline", "run_recipe": "toolkit.api",
    "Recipe": "toolkit.recipe", "load_recipe": "toolkit.api", "parse_recipe": "toolkit.recipe",
    "recipe_json_schema": "toolkit.recipe",
    "StageConfig": "toolkit.config", "ModelSpec": "toolkit.config", "DataSpec": "toolkit.config",
    "MeasureSpec": "toolkit.config", "AugmentSpec": "toolkit.config",
    "StageResult": "toolkit.context", "StageContext": "toolkit.context",
    "ModelArtifact": "toolkit.artifacts",
    "register_stage": "toolkit.registry", "get_stage": "toolkit.api", "stage_names": "toolkit.stages",
    "register_model": "toolkit.models", "build_model": "toolkit.api", "load_model": "toolkit.api",
    "register_dataset": "toolkit.data", "build_data": "toolkit.api", "DataBundle": "toolkit.data",
    "register_runtime": "toolkit.runtimes", "get_runtime": "toolkit.api",
    "write_report": "toolkit.api", "fit": "toolkit.train.loop", "TrainingFields": "toolkit.train.options",
    "ToolkitError": "toolkit.errors", "RecipeError": "toolkit.errors", "StageSkipped": "toolkit.errors",
}

__all__ = sorted([*_EXPORTS, "stages", "__version__"])


def __getattr__(name: str) -> Any:
    """Load public names lazily (PEP 562)."""
    if name == "stages":
        return importlib.import_module("toolkit.stages")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'toolkit' has no attribute '{name}'")


def __dir__() -> list[str]:
    return __all__
