"""Non-finite (NaN, +-inf) weights: found in torch models and ONNX files, and refused before a stage uses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError


class NonFiniteModelError(ToolkitError):
    """A model handed to a stage holds NaN or infinite weights."""


def nonfinite_tensors(module: Any, limit: int = 5) -> list[str]:
    """Names of a torch module's parameters and buffers holding NaN or +-inf (at most `limit`, in module order)."""
    import torch

    bad = []
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad.append(name)
            if len(bad) >= limit:
                break
    return bad


def nonfinite_initializers(path: Path, limit: int = 5) -> list[str]:
    """Names of an ONNX file's floating-point initializers (weights) holding NaN or +-inf."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    bad = []
    for init in onnx.load(str(path)).graph.initializer:
        array = numpy_helper.to_array(init)
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            bad.append(init.name)
            if len(bad) >= limit:
                break
    return bad


def nonfinite_weights(model: Any) -> list[str]:
    """Non-finite weight names of a torch module or an ONNX model file; [] for formats it cannot read (engines)."""
    from torch import nn

    if isinstance(model, nn.Module):
        return nonfinite_tensors(model)
    path, fmt = getattr(model, "path", None), str(getattr(model, "format", ""))
    if path is not None and fmt.startswith("onnx") and Path(path).is_file():
        return nonfinite_initializers(Path(path))
    return []


def input_model_source(model_spec: Any, user_model: bool = False) -> str:
    """How the recipe's input model is named in errors: its checkpoint file, its weights name, or the caller's."""
    if user_model:
        return "the model passed to run_recipe"
    if getattr(model_spec, "checkpoint", None) is not None:
        return f"the checkpoint {model_spec.checkpoint} (model.checkpoint)"
    if getattr(model_spec, "weights", None):
        return f"the torchvision weights {model_spec.weights} (model.weights)"
    return "the freshly initialized model"


def check_input_finite(model: Any, producer: str | None, consumer: str, input_source: str | None = None) -> None:
    """Raise NonFiniteModelError naming the stage that made `model` when its weights are not all finite.

    `producer` is the producing stage's folder name (None: the input model of the recipe, described by
    `input_source`, e.g. input_model_source()).
    """
    bad = nonfinite_weights(model)
    if not bad:
        return
    if producer is None:  # no stage of this run made it: the file itself is bad, lr advice would not apply
        source = input_source or "the recipe's input model (model.checkpoint / model.weights)"
        raise NonFiniteModelError(
            f"the recipe's input model, {source}, has non-finite (NaN or inf) weights in {', '.join(bad)}; "
            f"nothing can be measured or compressed from it. Point model.checkpoint at a file saved before "
            f"its training diverged (or rerun that training), then run again.")
    raise NonFiniteModelError(
        f"stage {consumer} cannot start: its input model, made by stage {producer}, has non-finite (NaN or inf) "
        f"weights in {', '.join(bad)}. Fix or rerun the stage that made it (a training stage that diverged: lower "
        f"its lr, add warmup_epochs or grad_clip).")
