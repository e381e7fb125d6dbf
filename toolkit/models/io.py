"""Saving and loading torch models without pickle: weights in safetensors, shapes in structure.json.

A pruned model no longer matches its class's constructor. Loading rebuilds the original model from
code (the spec), shrinks each recorded module to its recorded shape, then loads the weights strictly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.errors import ArtifactError
from toolkit.fsutil import atomic_path, atomic_write_json, read_json

STRUCTURE_FORMAT = "toolkit.torch-structure"
STRUCTURE_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
STRUCTURE_FILE = "structure.json"
SHAPE_ATTRS = ("in_channels", "out_channels", "groups", "in_features", "out_features", "num_features",
               "normalized_shape", "num_channels", "num_groups", "embed_dim", "num_heads")


def describe_structure(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Per module with tensors: its class name, shape attributes and tensor shapes."""
    modules = {}
    for name, module in model.named_modules():
        tensors = {n: list(t.shape) for n, t in module.named_parameters(recurse=False)}
        tensors.update({n: list(t.shape) for n, t in module.named_buffers(recurse=False) if t is not None})
        if not tensors:
            continue
        attrs = {}
        for attr in SHAPE_ATTRS:
            value = getattr(module, attr, None)
            if isinstance(value, (int, tuple, list)) and not isinstance(value, bool):
                attrs[attr] = list(value) if isinstance(value, (tuple, list)) else value
        modules[name] = {"type": type(module).__name__, "attrs": attrs, "tensors": tensors}
    return modules


def apply_structure(model: nn.Module, modules: dict[str, dict[str, Any]], source: Path) -> None:
    """Shrink `model`'s modules in place to the recorded attributes and tensor shapes."""
    built = describe_structure(model)
    if set(built) != set(modules):
        extra, missing = sorted(set(modules) - set(built)), sorted(set(built) - set(modules))
        raise ArtifactError(f"{source}: the structure does not match the model code "
                            f"(unknown modules {extra[:5]}, modules not recorded {missing[:5]})")
    for name, record in modules.items():
        module = model.get_submodule(name) if name else model
        if type(module).__name__ != record.get("type"):
            raise ArtifactError(f"{source}: module '{name}' is {type(module).__name__} in the code "
                                f"but {record.get('type')} in the file")
        for attr, value in record.get("attrs", {}).items():
            if attr not in SHAPE_ATTRS:
                raise ArtifactError(f"{source}: module '{name}': attribute '{attr}' may not be set from a file")
            current = getattr(module, attr)
            setattr(module, attr, tuple(value) if isinstance(current, tuple) else value)
        for tensor_name, shape in record.get("tensors", {}).items():
            if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
                raise ArtifactError(f"{source}: module '{name}': bad shape for '{tensor_name}': {shape!r}")
            _resize(module, tensor_name, shape)


def _resize(module: nn.Module, name: str, shape: list[int]) -> None:
    if name in module._parameters and module._parameters[name] is not None:
        old = module._parameters[name]
        if list(old.shape) != shape:
            module._parameters[name] = nn.Parameter(torch.empty(shape, dtype=old.dtype),
                                                    requires_grad=old.requires_grad)
    elif name in module._buffers and module._buffers[name] is not None:
        old = module._buffers[name]
        if list(old.shape) != shape:
            module._buffers[name] = torch.empty(shape, dtype=old.dtype)


def save_model(model: nn.Module, directory: Path, spec: dict[str, Any]) -> list[str]:
    """Write model.safetensors + structure.json into `directory` atomically; return the file names."""
    from safetensors.torch import save_model as save_weights

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu")
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_weights(model, str(tmp))
    atomic_write_json(directory / STRUCTURE_FILE, {
        "format": STRUCTURE_FORMAT, "version": STRUCTURE_VERSION, "spec": spec,
        "class": type(model).__name__, "modules": describe_structure(model),
    })
    return [WEIGHTS_FILE, STRUCTURE_FILE]


def read_structure(path: Path) -> dict[str, Any]:
    """Read and check a structure.json; errors name the file."""
    try:
        data = read_json(path)
    except ValueError as exc:
        raise ArtifactError(f"cannot read model structure: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != STRUCTURE_FORMAT:
        raise ArtifactError(f"{path}: not a toolkit model structure file")
    if data.get("version") != STRUCTURE_VERSION:
        raise ArtifactError(f"{path}: structure version {data.get('version')} is not supported")
    if not isinstance(data.get("modules"), dict) or not isinstance(data.get("spec"), dict):
        raise ArtifactError(f"{path}: missing 'modules' or 'spec'")
    return data


def _locate(path: Path) -> tuple[Path, Path]:
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    weights, structure = directory / WEIGHTS_FILE, directory / STRUCTURE_FILE
    for needed in (weights, structure):
        if not needed.is_file():
            raise ArtifactError(f"{needed}: missing (a saved model is {WEIGHTS_FILE} + {STRUCTURE_FILE})")
    return weights, structure


def load_model(path: Path, base_model: nn.Module | None = None) -> nn.Module:
    """Rebuild a saved model from code, shrink it to the recorded shapes and load its weights."""
    import copy

    from safetensors.torch import load_model as load_weights

    from toolkit.models import build_model
    from toolkit.models.legacy import legacy_renames, load_renamed_weights, rename_modules
    from toolkit.specs import ModelSpec

    weights, structure_path = _locate(path)
    structure = read_structure(structure_path)
    spec = structure["spec"]
    if base_model is not None:
        model = copy.deepcopy(base_model)
    else:
        try:
            model_spec = ModelSpec.model_validate(spec.get("model", {}))
        except Exception as exc:  # noqa: BLE001 - pydantic error on a tampered file
            raise ArtifactError(f"{structure_path}: bad model spec ({exc})") from None
        model = build_model(model_spec, spec.get("num_classes"), int(spec.get("image_size", 32)), load_weights=False)
    modules = structure["modules"]
    renames = {} if base_model is not None else \
        legacy_renames(str((spec.get("model") or {}).get("arch")), modules, describe_structure(model))
    apply_structure(model, rename_modules(modules, renames), structure_path)
    try:
        if renames:
            load_renamed_weights(model, str(weights), renames)
        else:
            load_weights(model, str(weights), strict=True)
    except Exception as exc:  # noqa: BLE001 - truncated, tampered or mismatched weights
        raise ArtifactError(f"{weights}: cannot load weights ({type(exc).__name__}: {str(exc)[:300]})") from None
    return model.eval()
