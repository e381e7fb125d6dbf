"""The deploy form of a model: structural re-parameterization applied before a model is exported or timed.

RepVGG, MobileOne, RepGhost, FastViT, LeViT and their kin train with several parallel branches (3x3, 1x1,
identity, each with BatchNorm) that their deploy form fuses into one convolution. A model exported as trained
is the network nobody ships: timm's `repvgg_a0` gave 44 Conv and 39 Add nodes where its deploy form has one
Conv per block and no Add. Every ONNX file the toolkit writes is therefore made from the deploy form:
- a timm model (timm importable, a module of the model defined by timm) goes through timm's own
  `timm.utils.model.reparameterize_model`;
- any other module exposing `reparameterize()`, `switch_to_deploy()` or `fuse()` (no required arguments) has
  it called, outermost first; a `fuse()` that returns a module replaces the one it was called on.
It is done on a copy: the caller's model keeps its training form (training, pruning and parity use that).
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
from typing import Any

import torch
from torch import nn

DEPLOY_METHODS = ("reparameterize", "switch_to_deploy", "fuse")
TIMM_CALL = "timm.utils.model.reparameterize_model"


def deploy_method(module: nn.Module) -> str | None:
    """The deploy-form method `module` offers: a method of its class (not an attribute or a submodule of that
    name) callable without arguments; None for torch's own modules and for modules without one."""
    if type(module).__module__.startswith("torch."):
        return None
    for name in DEPLOY_METHODS:
        if not inspect.isfunction(getattr(type(module), name, None)):
            continue
        try:
            inspect.signature(getattr(module, name)).bind()
        except TypeError:  # it needs arguments: not the no-argument deploy switch this looks for
            continue
        return name
    return None


def _is_timm(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("timm.") for m in model.modules()) and \
        importlib.util.find_spec("timm") is not None


def convertible(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(name, module, method) of the outermost modules with a deploy method, in `named_modules` order; a module
    inside one of them is converted by it. The root module counts too ("" is its name)."""
    found: list[tuple[str, nn.Module, str]] = []
    for name, module in model.named_modules():
        if any(name.startswith(f"{outer}.") or outer == "" for outer, _, _ in found):
            continue
        method = deploy_method(module)
        if method is not None:
            found.append((name, module, method))
    return found


def _convert_in_place(model: nn.Module, targets: list[tuple[str, nn.Module, str]]) -> nn.Module:
    """Call each target's method; a `fuse()` returning another module takes its place."""
    for name, module, method in targets:
        result = getattr(module, method)()
        if method == "fuse" and isinstance(result, nn.Module) and result is not module:
            if not name:
                model = result
            else:
                parent_name, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent_name) if parent_name else model, child, result)
    return model


def deploy_form(model: nn.Module, example: torch.Tensor | None = None) -> tuple[nn.Module, dict[str, Any] | None]:
    """`model` in its deploy form (a converted copy) and what was done; `(model, None)` when nothing in it has a
    deploy form. The record: `by` (timm's function or the modules' own methods), `modules` ([{module, type,
    call}]), and with `example` the largest |deploy - training| output difference on it, absolute and relative
    to the largest |output|. Raises nothing: a conversion that fails returns `model` unchanged and a record
    with `status: failed` and the reason, so that an export goes on in the training form and says so.
    """
    targets = convertible(model)
    if not targets:
        return model, None
    record: dict[str, Any] = {
        "by": TIMM_CALL if _is_timm(model) else "the modules' own methods",
        "modules": [{"module": name or "(model)", "type": type(module).__name__, "call": f"{method}()"}
                    for name, module, method in targets]}
    try:
        converted = copy.deepcopy(model)
        if record["by"] == TIMM_CALL:
            from timm.utils.model import reparameterize_model

            converted = reparameterize_model(converted, inplace=True)
        else:
            converted = _convert_in_place(converted, convertible(converted))
        converted.eval()
        if example is not None:
            was_training = model.training
            try:
                with torch.no_grad():
                    before, after = model.eval()(example), converted(example)
            finally:
                model.train(was_training)
            diff, scale = float((before - after).abs().max()), float(before.abs().max())
            # untrained deep nets have logits in the 1e14s: the difference means something against their scale
            record.update(max_abs_diff_vs_training_form=diff, rel_diff_vs_training_form=diff / scale if scale else diff)
    except Exception as exc:  # noqa: BLE001 - a failed conversion is recorded; the training form still exports
        return model, {**record, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300]}
    return converted, {**record, "status": "converted"}


def deploy_note(record: dict[str, Any] | None) -> str:
    """One line for a stage's log about the deploy form ('' when the model has none)."""
    if not record:
        return ""
    count = len(record["modules"])
    if record.get("status") == "failed":
        return (f"the deploy form could not be made ({record['reason']}); the ONNX file holds the training form "
                f"of {count} re-parameterizable module(s)")
    rel = record.get("rel_diff_vs_training_form")
    return (f"exported in deploy form: {count} module(s) re-parameterized by {record['by']}"
            + (f" (max |deploy - training| {rel:.1e} of the outputs' scale)" if rel is not None else ""))
