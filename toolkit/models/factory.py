"""Model factories by name: the registry, `build_model(spec)` and the logits selector.

Naming and checking models imports no torch: the own models' modules (and torch) are imported when one is
built, and `names_only()` keeps `check_arch` from importing torchvision or a user's package.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.config import InputShape, ModelSpec
from toolkit.errors import UserInputError
from toolkit.models.seed_cnn import seed_cnn
from toolkit.models.timm_zoo import build_timm, is_timm, timm_problem
from toolkit.models.user_code import file_beside, load_factory
from toolkit.registry import Registry, UnknownNameError

if TYPE_CHECKING:
    from torch import nn

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODULE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Inside names_only(): the list that names left to the pre-flight are added to; None: check_arch checks all
_LEFT_TO_PREFLIGHT: ContextVar[list[str] | None] = ContextVar("toolkit_arch_left_to_preflight", default=None)


def cifar_resnet(depth: int) -> Callable[..., nn.Module]:
    """A factory for one CIFAR ResNet depth (its module, and torch, are imported when it builds)."""

    def factory(num_classes: int = 10, width: int = 16, in_channels: int = 3) -> nn.Module:
        from toolkit.models.cifar_resnet import CifarResNet

        return CifarResNet(depth, num_classes, width, in_channels)

    factory.__doc__ = f"ResNet-{depth} for 32x32 inputs (He et al. 2016, option-B shortcuts)."
    return factory


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


@contextmanager
def names_only() -> Iterator[list[str]]:
    """Within it, `check_arch` imports nothing: own and registered names are checked as always; a name only
    torchvision could know, a 'timm:NAME' (timm is located, not imported), and the module of a dotted
    'package.module:function' are checked by their form and added to the yielded list, for the pre-flight to check
    (`compress validate --schema-only` starts without torch).
    """
    left: list[str] = []
    token = _LEFT_TO_PREFLIGHT.set(left)
    try:
        yield left
    finally:
        _LEFT_TO_PREFLIGHT.reset(token)


def check_arch(arch: str, code_dir: Path | None = None) -> str | None:
    """Return why `arch` cannot be built, or None when it can (user modules are located, not imported).

    `code_dir`: the folder a 'module:function' module's file may sit in (the recipe's); 'timm:NAME' is looked up
    in timm's registry (within names_only(): its form is checked and it is left to the pre-flight)."""
    left = _LEFT_TO_PREFLIGHT.get()
    if is_timm(arch):
        problem = timm_problem(arch, import_timm=left is None)
        if problem is None and left is not None:
            left.append(arch)
        return problem
    if ":" in arch:
        module, _, func = arch.partition(":")
        malformed = not module or not func
        if left is not None:  # nothing is imported to reject a malformed path later: its form is checked here
            malformed = malformed or not (MODULE_PATH.match(module) and IDENTIFIER.match(func))
        if malformed:
            return f"'{arch}' is not of the form 'package.module:function'"
        if code_dir is not None and file_beside(module, code_dir) is not None:
            return None  # a file beside the recipe: imported by its path when the model is built
        # finding a submodule imports its package: within names_only() only the top-level one is looked for
        looked_for = module.partition(".")[0] if left is not None else module
        try:
            found = importlib.util.find_spec(looked_for)
        except (ImportError, ValueError):
            found = None
        if not found:
            return f"cannot find module '{looked_for}' (is it installed or on PYTHONPATH?)"
        if left is not None and looked_for != module:
            left.append(arch)
        return None
    if arch in MODELS:
        return None
    if left is not None:
        if not IDENTIFIER.match(arch):
            return f"{UnknownNameError('model', arch, MODELS.names())}, any torchvision classifier or 'pkg.mod:fn'"
        left.append(arch)  # a torchvision name, or an unknown one: torchvision's list is the pre-flight's to read
        return None
    from toolkit.models.zoo import torchvision_names

    names = torchvision_names()
    if arch in names:
        return None
    return str(UnknownNameError("model", arch, MODELS.names() + names))


def _call_factory(factory: Callable[..., nn.Module], num_classes: int, shape: InputShape,
                  kwargs: dict) -> nn.Module:
    """factory(num_classes=, **kwargs), plus `input_size` (an int, or (height, width) when not square) and
    `in_channels` where the factory declares them (one that does not is taken to build for its own channel count,
    which the pre-flight checks). Raises UserInputError for a factory that refuses its arguments."""
    params = inspect.signature(factory).parameters
    extra = dict(kwargs)
    if "input_size" in params and "input_size" not in extra:
        extra["input_size"] = shape.height if shape.height == shape.width else (shape.height, shape.width)
    if "in_channels" in params and "in_channels" not in extra:
        extra["in_channels"] = shape.channels
    try:
        return factory(num_classes=num_classes, **extra)
    except TypeError as exc:
        raise UserInputError(f"model.kwargs: {exc}") from None
    except ValueError as exc:  # the factory refuses the arguments (e.g. an input too small)
        raise UserInputError(f"model: {exc}") from None


def build_model(spec: ModelSpec, num_classes: int | None = None,
                input_shape: InputShape | int | tuple[int, int] = 32, *, load_weights: bool = True) -> nn.Module:
    """Build the model a spec describes for images of `input_shape`: (channels, height, width), or an image size
    (an int: square, or (height, width)) of 3-channel images.

    Own and registered factories and 'module:function' get `in_channels` and `input_size` where they declare
    them; a torchvision model's first convolution is rebuilt for the channel count. `load_weights=False` skips
    weights/checkpoint, for rebuilding. Raises UserInputError for a spec that cannot be built."""
    from torch import nn

    from toolkit.models.checkpoint import load_checkpoint
    from toolkit.models.zoo import build_torchvision

    shape = input_shape if isinstance(input_shape, InputShape) else InputShape.of(input_shape)
    classes = spec.num_classes or num_classes or 10
    if spec.weights and load_weights and (":" in spec.arch or spec.arch in MODELS):
        raise UserInputError(f"model.weights: '{spec.arch}' is not a torchvision model; use model.checkpoint")
    if is_timm(spec.arch):
        model = build_timm(spec.arch, classes, shape.channels, spec.kwargs)
    elif ":" in spec.arch:
        model = _call_factory(load_factory(spec.arch, spec.code_dir), classes, shape, spec.kwargs)
    elif spec.arch in MODELS:
        model = _call_factory(MODELS.get(spec.arch), classes, shape, spec.kwargs)
    else:
        model = build_torchvision(spec.arch, classes, spec.weights if load_weights else None,
                                  spec.small_input, spec.kwargs, shape.channels)
    if not isinstance(model, nn.Module):
        raise UserInputError(f"model.arch: '{spec.arch}' returned {type(model).__name__}, not a torch nn.Module")
    if spec.small_input and (":" in spec.arch or spec.arch in MODELS):
        from toolkit.models.zoo import adapt_small_input

        adapt_small_input(model, spec.arch)
    if load_weights and spec.checkpoint is not None:
        load_checkpoint(model, spec.checkpoint)
    return logits_model(model, spec.logits, shape)


def logits_model(model: nn.Module, selector: int | str | None, input_shape: InputShape) -> nn.Module:
    """`model`, wrapped so that forward returns only the logits when it returns a tuple or dict (probed with one
    zero image of `input_shape`)."""
    import torch

    from toolkit.models.outputs import with_logits_output

    return with_logits_output(model, selector, torch.zeros(input_shape.batch(1)))
