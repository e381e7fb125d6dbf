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


def check_input_finite(model: Any, producer: str | None, consumer: str) -> None:
    """Raise NonFiniteModelError naming the stage that made `model` when its weights are not all finite.

    `producer` is the producing stage's folder name (None: the input model of the recipe).
    """
    bad = nonfinite_weights(model)
    if not bad:
        return
    source = f"stage {producer}" if producer else "the recipe's input model (model.checkpoint / model.weights)"
    raise NonFiniteModelError(
        f"stage {consumer} cannot start: its input model, made by {source}, has non-finite (NaN or inf) weights "
        f"in {', '.join(bad)}. Fix or rerun the stage that made it (a training stage that diverged: lower its lr, "
        f"add warmup_epochs or grad_clip).")
