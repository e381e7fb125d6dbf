"""What `compress inspect RECIPE` inspects: the recipe's model at its image size, with or without its data.

Inspecting for pruning needs the model's structure, not the data set or the trained weights: the data is
used for a real example image where it is present, and random images of the recipe's size otherwise.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from toolkit.errors import DataError, UserInputError
from toolkit.prune.config import Prune


def check_takes(model: nn.Module, example: torch.Tensor, arch: str, size_field: str) -> None:
    """Run `model` once on `example` ((1, C, H, W)); raise UserInputError when it cannot take that input (a model
    whose attention is sized for 224x224, a stem that shrinks 64x64 to nothing), worded as the run's pre-flight
    words it, with its size field named `size_field` (`--input-size` for a model name)."""
    from toolkit.config import InputShape
    from toolkit.run.preflight import INPUT_ERRORS, input_problem

    try:
        with torch.no_grad():
            model.eval()(example)
    except INPUT_ERRORS as exc:
        field, problem = input_problem(model, arch, InputShape(*example.shape[1:]), exc)
        raise UserInputError(f"{size_field if field == 'data.image_size' else field}: {problem}") from None


def named_model_input(arch: str, input_size: int | tuple[int, int] | None, num_classes: int,
                      small_input: bool) -> tuple[nn.Module, torch.Tensor, str]:
    """`compress inspect --model NAME`: (model with initial weights, a random (1, 3, H, W) image, title).

    Raises UserInputError for an unknown name or an input size the model cannot take."""
    from toolkit.config import InputShape, ModelSpec
    from toolkit.models import build_model, check_arch

    problem = check_arch(arch)
    if problem:
        raise UserInputError(f"--model: {problem}")
    shape = InputShape.of(input_size or (32 if small_input else 224))
    model = build_model(ModelSpec(arch=arch, small_input=small_input), num_classes, shape)
    example = torch.randn(shape.batch(1))
    check_takes(model, example, arch, "--input-size")
    return model, example, f"{arch} at {shape.text}"


def recipe_model_input(recipe_path: Path) -> tuple[nn.Module, torch.Tensor, int, str, Prune | None, int]:
    """(model with initial weights, example batch of 1, classes, title, the first prune stage's options (None
    without one), the recipe's seed): the test prune then runs as that stage would.

    Input paths need not exist here (a recipe from another machine). Without the data set the class
    count is `model.num_classes`, else 10: the classifier's outputs are never pruned, so it changes
    nothing that inspection reports. Raises RecipeError for an invalid recipe, UserInputError for a model that
    cannot take the recipe's images.
    """
    from toolkit.data import build_data
    from toolkit.models import build_model
    from toolkit.recipe import load_recipe

    recipe = load_recipe(recipe_path, check_paths=False)
    shape = recipe.data.input_shape
    note = ""
    try:
        spec = recipe.data.model_copy(update={"in_memory": False}) if recipe.data.root else recipe.data
        data = build_data(spec, recipe.seed)
        classes, example = data.num_classes, data.example_input(1)
    except (DataError, OSError) as exc:
        classes = recipe.model.num_classes or 10
        example = torch.randn(shape.batch(1), generator=torch.Generator().manual_seed(recipe.seed))
        note = f"; data not read ({str(exc).splitlines()[0][:120]}), random {shape.text} images, {classes} classes"
    model = build_model(recipe.model, classes, shape, load_weights=False)  # structure only: no weights needed
    check_takes(model, example, recipe.model.arch, "data.image_size")
    prune = next((s for s in recipe.stages if s.stage_type == "prune"), None)
    return model, example, classes, f"{recipe_path} ({recipe.model.arch}{note})", prune, recipe.seed
