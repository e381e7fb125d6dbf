"""Reading models saved under older module names (a renamed layer must not orphan earlier run folders).

A model factory may carry `legacy_module_names` ({old module name: new name}); when a saved
structure.json names its modules the old way, the names in it and the weight keys are mapped.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def legacy_renames(arch: str, saved: dict[str, Any], built: dict[str, Any]) -> dict[str, str]:
    """{old: new} module names when `saved` (structure.json modules) uses the old names of `arch`, else {}."""
    if set(saved) == set(built):
        return {}
    from toolkit.models.factory import MODELS

    if arch not in MODELS.names():
        return {}
    mapping = getattr(MODELS.get(arch), "legacy_module_names", None) or {}
    renamed = {mapping.get(name, name) for name in saved}
    return dict(mapping) if renamed == set(built) else {}


def rename_modules(modules: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """structure.json modules under their current names."""
    return {renames.get(name, name): record for name, record in modules.items()}


def rename_tensor(key: str, renames: dict[str, str]) -> str:
    """A state-dict key ('0.weight') under its module's current name ('conv1.weight')."""
    module, _, leaf = key.rpartition(".")
    return f"{renames.get(module, module)}.{leaf}" if module else key


def load_renamed_weights(model: nn.Module, weights_file: str, renames: dict[str, str]) -> None:
    """Load safetensors weights saved under old module names, strictly (every key must match)."""
    from safetensors.torch import load_file

    state = {}
    for key, tensor in load_file(weights_file).items():
        state[rename_tensor(key, renames)] = tensor
    model.load_state_dict(state, strict=True)
