"""Model zoo: `build_model(spec)` for own models, torchvision names and 'package.module:function'."""

from __future__ import annotations

from torch import nn

from toolkit.models.factory import (
    MODELS,
    build_model,
    check_arch,
    logits_model,
    model_names,
    register_model,
)

__all__ = ["MODELS", "build_model", "check_arch", "logits_model", "model_names", "register_model", "load_model"]


def load_model(path, base_model: nn.Module | None = None, *, trust_code: bool = False) -> nn.Module:
    """Load a saved toolkit model (safetensors + structure.json) without executing code from the files.

    A 'module:function' architecture named in structure.json is run only with `trust_code=True`;
    raises ArtifactError otherwise and for missing, truncated or tampered files.
    """
    from toolkit.models.io import load_model as _load

    return _load(path, base_model, trust_code=trust_code)


__all__ = ["MODELS", "build_model", "check_arch", "load_model", "logits_model", "model_names", "register_model"]
