"""Model zoo: `build_model(spec)` for own models, torchvision names, 'timm:NAME' and 'package.module:function';
`load_model(path)` for a saved toolkit model (safetensors + structure.json, no code from the files).

Naming and checking models imports no torch; `load_model` (torch) is loaded on first use (PEP 562).
"""

from typing import TYPE_CHECKING, Any

from toolkit.models.factory import (
    MODELS,
    build_model,
    check_arch,
    logits_model,
    model_names,
    names_only,
    register_model,
)

if TYPE_CHECKING:  # type checkers and the API docs see it here; at run time __getattr__ imports it on first use
    from toolkit.models.io import load_model

_LAZY = {"load_model": "toolkit.models.io"}

__all__ = ["MODELS", "build_model", "check_arch", "load_model", "logits_model", "model_names", "names_only",
           "register_model"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
