"""Saving and loading torch models without pickle: weights in safetensors, shapes in structure.json.

A pruned model no longer matches its class's constructor. Loading rebuilds the original model from
code (the spec), shrinks each recorded module to its recorded shape, then loads the weights strictly.
structure.json is data that may have been edited: it is typed whole (`StructureFile`) before anything is
built, each module must be one the code builds with the attributes and tensors that module has, and the
recorded attributes must fit the recorded tensors (a Conv2d's out_channels is its weight's first dimension).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch import nn

from toolkit.errors import ArtifactError, ToolkitError
from toolkit.fsutil import atomic_path, atomic_write_json, read_json
from toolkit.models.spec_bounds import check_build_size, check_classes_in_weights, saved_input_shape
from toolkit.models.timm_zoo import is_timm, timm_problem

STRUCTURE_FORMAT = "toolkit.torch-structure"
STRUCTURE_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
STRUCTURE_FILE = "structure.json"
IN_MEMORY_ARCH = "<in-memory>"  # toolkit.api.IN_MEMORY: the spec of a run made from a Python module
SHAPE_ATTRS = ("in_channels", "out_channels", "groups", "in_features", "out_features", "num_features",
               "normalized_shape", "num_channels", "num_groups", "embed_dim", "num_heads")


MAX_COUNT = 1 << 24  # a channel, feature, group or head count: no layer has 2**24 of them
MAX_DIM = 1 << 31  # one tensor dimension; the weights file's header is the real bound, checked later


def _count_or_counts(value: Any) -> Any:
    """A shape attribute: a whole number from 1 to MAX_COUNT, or a short list of them (normalized_shape)."""
    items = value if isinstance(value, list) and 1 <= len(value) <= 8 else [value]
    if not all(type(v) is int and 1 <= v <= MAX_COUNT for v in items):
        raise ValueError(f"not a whole number from 1 to {MAX_COUNT} (or a list of them)")
    return value


Dim = Annotated[int, Field(ge=0, le=MAX_DIM)]


class ModuleRecord(BaseModel):
    """One module of structure.json: its class name, shape attributes and tensor shapes, all required."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: str = Field(min_length=1, max_length=200)
    attrs: dict[str, Annotated[Any, AfterValidator(_count_or_counts)]]
    tensors: dict[str, Annotated[list[Dim], Field(max_length=16)]]

    @field_validator("attrs", mode="before")
    @classmethod
    def _settable(cls, value: Any) -> Any:
        for attr in value if isinstance(value, dict) else ():
            if attr not in SHAPE_ATTRS:  # a file never sets __class__, forward or any other attribute
                raise ValueError(f"attribute {str(attr)[:40]!r} may not be set from a file")
        return value


class SavedSpec(BaseModel):
    """structure.json's spec: `model` is a ModelSpec mapping; the other values are checked where used."""

    model_config = ConfigDict(extra="allow", strict=True)
    model: dict[str, Any] = Field(default_factory=dict)


class StructureFile(BaseModel):
    """The whole of structure.json, typed before any of it is used."""

    model_config = ConfigDict(extra="forbid", strict=True)
    format: str
    version: int
    spec: SavedSpec
    class_: str = Field(alias="class", max_length=200)
    modules: dict[str, ModuleRecord]


def _where(loc: tuple[Any, ...]) -> str:
    """A pydantic location as the JSON path it names: modules['layer1.0.conv1'].attrs.out_channels."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).isidentifier():
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)[:60]!r}]"
    return out


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


MAX_UNSAVED_ELEMENTS = 10_000_000  # a recorded tensor absent from the weights file (a non-persistent buffer)


def weight_shapes(weights: Path) -> dict[str, list[int]]:
    """Tensor shapes from a safetensors header (nothing is loaded); ArtifactError when it is unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            return {key: list(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception as exc:  # noqa: BLE001 - SafetensorError and friends on a truncated or tampered file
        raise ArtifactError(f"{weights}: cannot read weights ({type(exc).__name__}: {str(exc)[:300]})") from None


def apply_structure(model: nn.Module, modules: dict[str, dict[str, Any]], source: Path,
                    saved_shapes: dict[str, list[int]] | None = None) -> None:
    """Shrink `model`'s modules in place to the recorded attributes and tensor shapes.

    With `saved_shapes` (from the weights file), a recorded shape must match the saved tensor's, so that a
    tampered file cannot make the loader allocate more memory than the weights themselves take.
    """
    built = describe_structure(model)
    if set(built) != set(modules):
        extra, missing = sorted(set(modules) - set(built)), sorted(set(built) - set(modules))
        raise ArtifactError(f"{source}: modules: the structure does not match the model code (unknown modules, "
                            f"not layers of this model: {extra[:5]}; layers not recorded: {missing[:5]})")
    for name, record in modules.items():
        module = model.get_submodule(name) if name else model
        where = f"{source}: {_where(('modules', name))}"
        if type(module).__name__ != record.get("type"):
            raise ArtifactError(f"{where}.type: the module is {type(module).__name__} in the code "
                                f"but {str(record.get('type'))[:60]!r} in the file")
        tensors, known = record.get("tensors", {}), built[name]["tensors"]
        if set(tensors) != set(known):
            raise ArtifactError(f"{where}.tensors: names {sorted(tensors)[:6]}, but a {type(module).__name__} "
                                f"here has {sorted(known)}")
        for attr, value in record.get("attrs", {}).items():
            if attr not in SHAPE_ATTRS:
                raise ArtifactError(f"{where}: attribute '{attr}' may not be set from a file")
            if attr not in built[name]["attrs"]:
                raise ArtifactError(f"{where}.attrs.{attr}: a {type(module).__name__} has no such attribute")
            current = getattr(module, attr)
            if isinstance(current, (tuple, list)) != isinstance(value, list):
                kind = "list" if isinstance(current, (tuple, list)) else "whole number"
                raise ArtifactError(f"{where}.attrs.{attr}: {value!r} is not a {kind}, as the module's is")
            setattr(module, attr, tuple(value) if isinstance(current, tuple) else value)
        for tensor_name, shape in tensors.items():
            if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
                raise ArtifactError(f"{source}: module '{name}': bad shape for '{tensor_name}': {shape!r}")
            if saved_shapes is not None:
                key = f"{name}.{tensor_name}" if name else tensor_name
                if key in saved_shapes and saved_shapes[key] != shape:
                    raise ArtifactError(f"{source}: module '{name}': shape {shape} for '{tensor_name}' differs "
                                        f"from the weights file's {saved_shapes[key]}")
                if key not in saved_shapes and math.prod(shape) > MAX_UNSAVED_ELEMENTS:
                    raise ArtifactError(f"{source}: module '{name}': '{tensor_name}' of shape {shape} is too "
                                        f"large for a tensor that is not in the weights file")
            _resize(module, tensor_name, shape)
        problem = _shape_problem(module)
        if problem:
            raise ArtifactError(f"{where}: {problem}; the file does not describe this model (edited?)")


def _shape_problem(module: nn.Module) -> str | None:
    """Why a module's shape attributes do not fit its tensors (convolutions, linear layers, norms), or None."""
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    shape = list(weight.shape) if isinstance(weight, torch.Tensor) else None
    if isinstance(module, nn.modules.conv._ConvNd):
        cin, cout, groups = module.in_channels, module.out_channels, module.groups
        if cin % groups or cout % groups:
            return f"groups {groups} does not divide in_channels {cin} and out_channels {cout}"
        want = [cin, cout // groups] if module.transposed else [cout, cin // groups]
        out = cout
    elif isinstance(module, nn.Linear):
        want, out = [module.out_features, module.in_features], module.out_features
    elif isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm)):
        count = module.num_features if hasattr(module, "num_features") else module.num_channels
        if isinstance(module, nn.GroupNorm) and count % module.num_groups:
            return f"num_groups {module.num_groups} does not divide num_channels {count}"
        sizes = {n: list(t.shape) for n, t in (*module.named_parameters(recurse=False),
                                               *module.named_buffers(recurse=False)) if t is not None and t.dim()}
        wrong = {n: v for n, v in sizes.items() if v != [count]}
        return f"tensors {wrong} do not have its {count} channels" if wrong else None
    elif isinstance(module, nn.LayerNorm):
        want, out = list(module.normalized_shape), None
        return None if shape is None or shape == want else f"weight {shape} is not normalized_shape {want}"
    else:
        return None
    if shape is not None and shape[:2] != want:
        return f"weight {shape} does not fit {type(module).__name__}'s recorded channels ({want} expected)"
    if isinstance(bias, torch.Tensor) and list(bias.shape) != [out]:
        return f"bias {list(bias.shape)} does not fit its {out} output channels"
    return None


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
        try:
            save_weights(model, str(tmp))
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - SafetensorError (not an OSError) wraps disk-full and I/O errors
            raise _write_error(exc, directory / WEIGHTS_FILE) from None
    atomic_write_json(directory / STRUCTURE_FILE, {
        "format": STRUCTURE_FORMAT, "version": STRUCTURE_VERSION, "spec": spec,
        "class": type(model).__name__, "modules": describe_structure(model),
    })
    return [WEIGHTS_FILE, STRUCTURE_FILE]


def _write_error(exc: Exception, where: Path) -> ToolkitError:
    """A plain message for a failed weights write; safetensors reports the OS error only inside its text."""
    import errno
    import os
    import re

    from toolkit.fsutil import disk_error

    found = re.search(r"code: (\d+)", str(exc))
    if found and int(found.group(1)) in errno.errorcode:
        code = int(found.group(1))
        return disk_error(OSError(code, os.strerror(code)), where)
    return ToolkitError(f"cannot write {where}: {type(exc).__name__}: {str(exc)[:300]}; "
                        f"the previous complete state was kept")


def read_structure(path: Path) -> dict[str, Any]:
    """Read a structure.json and type it whole (`StructureFile`).

    Raises ArtifactError naming the file and the field: unreadable JSON, another format or version, a value
    of the wrong kind (a channel count that is text, zero, negative, fractional, true/false or past
    MAX_COUNT; a list where a number belongs), a missing or unknown key, or extra nesting.
    """
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
    try:
        StructureFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first, more = errors[0], f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        got = "" if first["type"] in ("missing", "extra_forbidden") else f" (got {repr(first.get('input'))[:40]})"
        message = first["msg"].removeprefix("Value error, ")
        raise ArtifactError(f"{path}: {_where(tuple(first['loc']))}: {message}{got}{more}") from None
    return data


def _locate(path: Path) -> tuple[Path, Path]:
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    weights, structure = directory / WEIGHTS_FILE, directory / STRUCTURE_FILE
    for needed in (weights, structure):
        if not needed.is_file():
            raise ArtifactError(f"{needed}: missing (a saved model is {WEIGHTS_FILE} + {STRUCTURE_FILE})")
    return weights, structure


def _check_arch_source(arch: str, source: Path, trust_code: bool, allowed_arch: str | None) -> None:
    """Refuse to let a file choose code: only registered, torchvision and timm names, or a vouched-for 'pkg:fn'."""
    from toolkit.models.factory import MODELS
    from toolkit.models.zoo import torchvision_names

    if ":" in arch:
        if is_timm(arch) and timm_problem(arch):  # a name in timm's registry, like torchvision's: the file runs no code
            raise ArtifactError(f"{source}: cannot rebuild '{arch}': {timm_problem(arch)}")
        if is_timm(arch) or trust_code or arch == allowed_arch:
            if arch != allowed_arch and not is_timm(arch):
                import warnings

                warnings.warn(f"{source}: running the Python function '{arch}' named in this file, because "
                              f"the caller trusts it (trust_code=True)", UserWarning, stacklevel=3)
            return
        raise ArtifactError(f"{source}: the model is built by the Python function '{arch}', which the file names; "
                            f"a file the toolkit reads never chooses code to run. If you trust this file, pass "
                            f"trust_code=True to load_model or --trust-code to compress bench")
    if arch not in MODELS and arch not in torchvision_names():
        raise ArtifactError(f"{source}: unknown architecture {arch!r}: not a registered or torchvision model "
                            f"(a plugin that registers it must be imported first; compress bench imports a run "
                            f"folder's plugins only with --trust-code)")


def load_model(path: Path, base_model: nn.Module | None = None, *, trust_code: bool = False,
               allowed_arch: str | None = None) -> nn.Module:
    """Rebuild a saved model from code, shrink it to the recorded shapes and load its weights.

    The architecture named in structure.json is built only when it is a registered or torchvision name;
    a 'module:function' architecture only when `trust_code` is True or it equals `allowed_arch` (the
    architecture of the recipe being run). Raises ArtifactError for anything else, and for missing,
    truncated or tampered files.
    """
    import copy

    from safetensors.torch import load_model as load_weights

    from toolkit.config import ModelSpec
    from toolkit.models.factory import build_model
    from toolkit.models.legacy import legacy_renames, load_renamed_weights, rename_modules, rename_tensor

    weights, structure_path = _locate(path)
    structure = read_structure(structure_path)
    spec = structure["spec"]
    if base_model is not None:
        model = copy.deepcopy(base_model)
        if structure.get("class") == "LogitsOutput":  # saved with its logits wrapper; the caller's is bare
            from toolkit.models.factory import logits_model

            try:
                shape = saved_input_shape(spec)
            except ValueError as exc:
                raise ArtifactError(f"{structure_path}: bad model spec ({exc})") from None
            model = logits_model(model, spec.get("model", {}).get("logits"), shape)
    elif spec.get("model", {}).get("arch") == IN_MEMORY_ARCH:
        raise ArtifactError(f"{structure_path}: this model was made from an in-memory module "
                            f"(Pipeline(model=...)) and cannot be rebuilt from code; pass that module: "
                            f"load_model({str(Path(path))!r}, base_model=my_module)")
    else:
        try:
            model_spec = ModelSpec.model_validate(spec.get("model", {}))
            num_classes = spec.get("num_classes")
            shape = saved_input_shape(spec)
            if not (num_classes is None or (type(num_classes) is int and 2 <= num_classes <= 1_000_000)):
                raise ValueError(f"num_classes {num_classes!r} is not an integer from 2 to 1000000")
        except Exception as exc:  # noqa: BLE001 - pydantic error on a tampered file
            raise ArtifactError(f"{structure_path}: bad model spec ({exc})") from None
        _check_arch_source(model_spec.arch, structure_path, trust_code, allowed_arch)
        # an edited spec must not allocate before the checks: compare it with the weights header first
        header_shapes = weight_shapes(weights)
        check_classes_in_weights(model_spec.num_classes or num_classes, header_shapes, structure_path)
        check_build_size(lambda: build_model(model_spec, num_classes, shape, load_weights=False),
                         header_shapes, structure_path)
        try:
            model = build_model(model_spec, num_classes, shape, load_weights=False)
        except ArtifactError:
            raise
        except ToolkitError as exc:
            raise ArtifactError(f"{structure_path}: cannot rebuild the model: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a factory refusing values from a tampered file
            raise ArtifactError(f"{structure_path}: cannot rebuild the model ({type(exc).__name__}: "
                                f"{str(exc)[:300]})") from None
    modules = structure["modules"]
    renames = {} if base_model is not None or not isinstance(modules, dict) else \
        legacy_renames(str((spec.get("model") or {}).get("arch")), modules, describe_structure(model))
    saved_shapes = weight_shapes(weights)
    if renames:  # files saved before seed_cnn's layers had names: compare shapes under the current names
        modules = rename_modules(modules, renames)
        saved_shapes = {rename_tensor(key, renames): shape for key, shape in saved_shapes.items()}
    try:
        apply_structure(model, modules, structure_path, saved_shapes)
    except ArtifactError:
        raise
    except Exception as exc:  # noqa: BLE001 - wrong value types in a tampered structure
        raise ArtifactError(f"{structure_path}: the structure cannot be applied ({type(exc).__name__}: "
                            f"{str(exc)[:300]})") from None
    try:
        if renames:
            load_renamed_weights(model, str(weights), renames)
        else:
            load_weights(model, str(weights), strict=True)
    except Exception as exc:  # noqa: BLE001 - truncated, tampered or mismatched weights
        raise ArtifactError(f"{weights}: cannot load weights ({type(exc).__name__}: {str(exc)[:300]})") from None
    return model.eval()
