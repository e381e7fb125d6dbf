"""Model factories by name: the registry, `build_model(spec)` and the logits selector."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable

from torch import nn

from toolkit.config import ModelSpec
from toolkit.errors import UserInputError
from toolkit.models.cifar_resnet import cifar_resnet
from toolkit.models.seed_cnn import seed_cnn
from toolkit.registry import Registry, UnknownNameError

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
MODELS.add("seed_cnn", seed_cnn)
for _depth in (20, 32, 44, 56, 110):
    MODELS.add(f"resnet{_depth}", cifar_resnet(_depth))


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register `factory(num_classes=..., **kwargs)` as `arch: name`."""

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.add(name, factory)
        return factory

    return wrap


def model_names() -> list[str]:
    """Own and registered model names (torchvision names are accepted too)."""
    return MODELS.names()


def check_arch(arch: str) -> str | None:
    """Return why `arch` cannot be built, or None when it can (user modules are located, not imported)."""
    if ":" in arch:
        module, _, func = arch.partition(":")
        if not module or not func:
            return f"'{arch}' is not of the form 'package.module:function'"
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        return None if found else f"cannot find module '{module}' (is it installed or on PYTHONPATH?)"
    if arch in MODELS:
        return None
    from toolkit.models.zoo import torchvision_names

    names = torchvision_names()
    if arch in names:
        return None
    return str(UnknownNameError("model", arch, MODELS.names() + names))


def _call_factory(factory: Callable[..., nn.Module], num_classes: int, image_size: int, kwargs: dict) -> nn.Module:
    params = inspect.signature(factory).parameters
    extra = dict(kwargs)
    if "input_size" in params and "input_size" not in extra:
        extra["input_size"] = image_size
    try:
        return factory(num_classes=num_classes, **extra)
    except TypeError as exc:
        raise UserInputError(f"model.kwargs: {exc}") from None
    except ValueError as exc:  # the factory refuses the arguments (e.g. an input too small)
        raise UserInputError(f"model: {exc}") from None


def build_model(spec: ModelSpec, num_classes: int | None = None, image_size: int = 32,
                *, load_weights: bool = True) -> nn.Module:
    """Build the model a spec describes (`load_weights=False` skips weights/checkpoint, for rebuilding)."""
    from toolkit.models.checkpoint import load_checkpoint
    from toolkit.models.zoo import build_torchvision

    classes = spec.num_classes or num_classes or 10
    if spec.weights and load_weights and (":" in spec.arch or spec.arch in MODELS):
        raise UserInputError(f"model.weights: '{spec.arch}' is not a torchvision model; use model.checkpoint")
    if ":" in spec.arch:
        module_name, _, func_name = spec.arch.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError) as exc:
            raise UserInputError(f"model.arch: cannot load '{spec.arch}': {exc}") from None
        model = _call_factory(factory, classes, image_size, spec.kwargs)
    elif spec.arch in MODELS:
        model = _call_factory(MODELS.get(spec.arch), classes, image_size, spec.kwargs)
    else:
        model = build_torchvision(spec.arch, classes, spec.weights if load_weights else None,
                                  spec.small_input, spec.kwargs)
    if not isinstance(model, nn.Module):
        raise UserInputError(f"model.arch: '{spec.arch}' returned {type(model).__name__}, not a torch nn.Module")
    if spec.small_input and (":" in spec.arch or spec.arch in MODELS):
        from toolkit.models.zoo import adapt_small_input

        adapt_small_input(model, spec.arch)
    if load_weights and spec.checkpoint is not None:
        load_checkpoint(model, spec.checkpoint)
    return logits_model(model, spec.logits, image_size)


def logits_model(model: nn.Module, selector: int | str | None, image_size: int) -> nn.Module:
    """`model`, wrapped so that forward returns only the logits when it returns a tuple or dict."""
    import torch

    from toolkit.models.outputs import with_logits_output

    return with_logits_output(model, selector, torch.zeros(1, 3, image_size, image_size))
