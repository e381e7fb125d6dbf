"""Pre-flight: the checks that need the data and the model, shared by `compress run` and `compress validate`.

Schema, names and paths are checked when a recipe is loaded; what only building things can reveal
(a model that cannot take the image size, weights missing from the local cache, a data folder that
is not an ImageFolder tree, a class count that differs) is checked here, before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from toolkit.config import InputShape
from toolkit.errors import RecipeError
from toolkit.recipe import Recipe


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; an unavailable CUDA request is a RecipeError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RecipeError([("device", f"'{name}' requested but torch sees no CUDA device")])
    return torch.device(name)


def preflight(recipe: Recipe, *, user_data: Any = None, user_model: nn.Module | None = None,
              lazy_data: bool = False, say: Callable[[str], None] | None = None
              ) -> tuple[torch.device, Any, nn.Module]:
    """Build the data and the input model and run one validation image through it.

    Returns (device, DataBundle, model). `lazy_data=True` (validate) keeps an ImageFolder tree on disk
    instead of decoding every image: the folders, classes and one image are still checked.
    `say` receives a line when data preparation starts and when it ends (decoding a large folder takes
    minutes, and a terminal that is not a TTY shows no progress bar). Raises RecipeError (with the recipe path)
    or the data/model errors of the builders.
    """
    from toolkit.data import build_data
    from toolkit.data.folder import DataRootError
    from toolkit.models import build_model, logits_model
    from toolkit.run.stage_runner import seed_everything

    device = resolve_device(recipe.device)
    spec = recipe.data.model_copy(update={"in_memory": False}) if lazy_data and recipe.data.root else recipe.data
    if user_data is None and say is not None:
        say(f"data: preparing {_describe_source(spec)} ...")
    started = time.perf_counter()
    try:
        data = user_data or build_data(spec, recipe.seed)
    except DataRootError as exc:  # suggest data.root as the recipe would have it, not as resolved
        raise exc.for_recipe(recipe.base_dir) from None
    if user_data is None and say is not None:
        say(f"data: {len(data.train)} train / {len(data.val)} validation images, {data.num_classes} classes, "
            f"{describe_shape(data.input_shape)}, ready in {time.perf_counter() - started:.1f} s")
    wanted = recipe.model.num_classes
    if wanted is not None and wanted != data.num_classes:
        raise RecipeError([("model.num_classes", f"is {wanted} but the data set has {data.num_classes} classes")])
    shape = data.input_shape
    example = data.example_input(1)
    if user_data is None and tuple(example.shape[1:]) != shape:  # a registered data set that ignored the spec
        raise RecipeError([("data", f"data set '{spec.dataset}' gives {tuple(example.shape[1:])} images (channels, "
                                    f"height, width); data.channels and data.image_size ask for {tuple(shape)}")])
    seed_everything(recipe.seed)  # the input model's initial weights depend on the seed only
    if user_model is not None:  # a Python model with a tuple/dict output: the logits, wrapped once
        user_model = logits_model(user_model, recipe.model.logits, shape)
    model = user_model or build_model(recipe.model, data.num_classes, shape)
    try:
        with torch.no_grad():
            out = model.eval()(example)
    except INPUT_ERRORS as exc:  # a shape mismatch; timm's ViTs assert their image size
        raise RecipeError([input_problem(model, recipe.model.arch, shape, exc)]) from None
    if out.ndim != 2 or out.shape[1] != data.num_classes:
        raise RecipeError([("model", f"{recipe.model.arch} outputs shape {tuple(out.shape)}; "
                                     f"expected (batch, {data.num_classes}) logits")])
    return device, data, model


def describe_shape(shape: InputShape) -> str:
    """'96x160' for RGB images, '96x160 grayscale' for one channel."""
    return shape.text + (" grayscale" if shape.channels == 1 else "")


INPUT_ERRORS = (RuntimeError, AssertionError, ValueError, IndexError)  # how a forward refuses an input's shape


def input_problem(model: nn.Module, arch: str, shape: InputShape, exc: Exception) -> tuple[str, str]:
    """(field, problem) for a model that cannot take the data's images: data.channels when its first convolution
    takes another channel count, else data.image_size."""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is not None and first.in_channels != shape.channels:
        return ("data.channels", f"is {shape.channels}, but {arch}'s first convolution takes {first.in_channels}: "
                                 f"set data.channels: {first.in_channels} (and as many data.mean and data.std "
                                 f"values), or give the model function an in_channels parameter")
    return ("data.image_size", f"{arch} cannot take {shape.text} inputs ({shape.channels} channels): "
                               f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")


def _describe_source(spec: Any) -> str:
    if spec.root is None:
        return f"the {spec.dataset} data set"
    memory = {True: "decoding every image into memory once", False: "reading images from disk as needed",
              None: "decoding the images into memory once if they fit"}[spec.in_memory]
    return f"{spec.dataset} from {spec.root} ({memory}; a large tree takes minutes)"


def untrained_warning(recipe: Recipe, user_model: nn.Module | None = None) -> str | None:
    """A warning when every model the run measures is an untrained network, else None.

    That is: no `weights`, no `checkpoint`, no model object from the caller, and no stage that trains
    (train, distill, a prune with fine-tuning, QAT). Its accuracy is chance and its speedups mean nothing.
    A `pkg.mod:function` factory may load weights itself, so it is not warned about.
    """
    spec = recipe.model
    factory = ":" in spec.arch and not spec.arch.startswith("timm:")  # timm models are built without weights
    if user_model is not None or spec.weights or spec.checkpoint is not None or factory:
        return None
    if any(stage.trains() for stage in recipe.stages):
        return None
    return (f"the model is untrained: model.arch {spec.arch} has no `weights` or `checkpoint` and no stage "
            f"trains ({', '.join(recipe.stage_names())}); every accuracy measured is chance level and its "
            f"speedups compare random networks. Add a `train` stage first, or set model.weights (torchvision, "
            f"from the local cache) or model.checkpoint.")
