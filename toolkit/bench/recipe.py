"""The recipe of an existing run for `compress bench`, including runs made from Python objects.

A run made with `Pipeline(model=my_module, ...)` records `arch: <in-memory>` (and `dataset: <in-memory>`
for in-memory data): its torch models cannot be rebuilt from code and its data cannot be rebuilt
either, but its ONNX and INT8 files can still be measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import UserInputError
from toolkit.models.io import IN_MEMORY_ARCH

PLACEHOLDER_ARCH = "seed_cnn"  # validates the rest of the recipe; never built for an in-memory run
PLACEHOLDER_DATASET = "synthetic"  # never built for an in-memory run


@dataclass
class RunRecipe:
    """A run's recipe plus what of it only existed in the Python process that made the run."""

    recipe: object
    in_memory_model: bool
    in_memory_data: bool


def replace_in_memory(raw: dict) -> tuple[dict, bool, bool]:
    """Put placeholders where a Python-made run recorded an in-memory model or data set; say which."""
    model, data = raw.get("model") or {}, raw.get("data") or {}
    in_model = isinstance(model, dict) and model.get("arch") == IN_MEMORY_ARCH
    in_data = isinstance(data, dict) and data.get("dataset") == IN_MEMORY_ARCH
    raw = dict(raw)
    if in_model:
        raw["model"] = {**model, "arch": PLACEHOLDER_ARCH}
    if in_data:
        raw["data"] = {**data, "dataset": PLACEHOLDER_DATASET}
    return raw, in_model, in_data


def load_run_recipe(run_dir: Path) -> RunRecipe:
    """Parse RUN_DIR/recipe.yaml whole (its plugins are imported: only for a trusted run folder) without
    requiring its input paths (or an in-memory model) to exist here."""
    from toolkit.recipe import parse_recipe, read_yaml

    path = Path(run_dir) / "recipe.yaml"
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserInputError(f"{path}: not a recipe")
    raw, in_model, in_data = replace_in_memory(raw)
    recipe = parse_recipe(raw, source=str(path), base_dir=path.parent, check_paths=False)
    return RunRecipe(recipe, in_model, in_data)
