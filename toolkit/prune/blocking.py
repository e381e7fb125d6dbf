"""Reshapes with sizes written into the model code: they break as soon as pruning changes a channel count.

`x.view(-1, 4096)` after a 256x4x4 feature map works until pruning removes a channel; then it fails
(or silently reshapes into a wrong batch). Recording every view/reshape/flatten call of one forward pass
with a TorchFunctionMode finds the calls whose target shape hard-codes the channel count times the
spatial size, and the last Conv/Linear that produced the reshaped tensor, whose channels must stay.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

RESHAPES = {torch.Tensor.view: "view", torch.Tensor.reshape: "reshape", torch.reshape: "reshape"}
PRODUCERS = (nn.Conv2d, nn.Linear)


def _target_shape(args: tuple, kwargs: dict) -> list[int] | None:
    shape = list(args[1:]) or list(kwargs.get("shape", ()))
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = list(shape[0])
    return shape if shape and all(isinstance(d, int) for d in shape) else None


class _Recorder(TorchFunctionMode):
    def __init__(self, state: dict[str, Any]):
        super().__init__()
        self.state = state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = RESHAPES.get(func)
        if op is not None and args and isinstance(args[0], torch.Tensor) and args[0].dim() >= 3:
            shape = _target_shape(args, kwargs)
            source = args[0]
            per_sample = math.prod(source.shape[1:])
            # A literal per-sample size equal to C*H*W: the channel count is written into the code.
            if shape is not None and shape.count(per_sample) == 1 and (-1 in shape or shape[0] == source.shape[0]):
                self.state["found"].append({"op": op, "shape": shape, "input_shape": list(source.shape),
                                            "in_module": self.state["stack"][-1] if self.state["stack"] else "",
                                            "producer": self.state["last_producer"]})
        return func(*args, **kwargs)


def hardcoded_reshapes(model: nn.Module, example: torch.Tensor) -> list[dict[str, Any]]:
    """view/reshape calls whose target shape writes a feature map's C*H*W as a literal, with their producer.

    Input: an eval-mode model and a (1, C, H, W) example. Each entry: op, shape, input_shape, in_module
    (the module whose forward made the call, '' for the top level) and producer (the last Conv/Linear
    that ran before it: keeping its output channels whole keeps the reshape valid).
    """
    state: dict[str, Any] = {"found": [], "stack": [], "last_producer": None}
    names = {m: n for n, m in model.named_modules()}
    hooks = []
    for module, name in names.items():
        hooks.append(module.register_forward_pre_hook(lambda m, i, n=name: state["stack"].append(n)))
        hooks.append(module.register_forward_hook(lambda m, i, o, n=name: _leave(state, m, n)))
    try:
        with torch.no_grad(), _Recorder(state):
            model.eval()(example[:1])
    except Exception:  # noqa: BLE001 - a model that cannot run is reported elsewhere
        pass
    finally:
        for hook in hooks:
            hook.remove()
    found = []
    for entry in state["found"]:
        # A flatten of a single (N, C) vector (e.g. after global pooling) is harmless; a fixed C*H*W is not.
        if entry["producer"] is not None and entry not in found:
            found.append(entry)
    return found


def _leave(state: dict[str, Any], module: nn.Module, name: str) -> None:
    if state["stack"]:
        state["stack"].pop()
    if isinstance(module, PRODUCERS):
        state["last_producer"] = name


def describe_reshape(entry: dict[str, Any]) -> str:
    """One line: the call, where it is, why it blocks pruning and the `ignore:` entry that fixes it."""
    where = f"in {entry['in_module']}.forward" if entry["in_module"] else "in the model's forward"
    shape = ", ".join(str(d) for d in entry["shape"])
    return (f"{entry['op']}({shape}) {where} writes the size of a {tuple(entry['input_shape'][1:])} feature map "
            f"into the code; pruning {entry['producer']}'s channels would break it. Add "
            f"ignore: [\"{entry['producer']}\"] (or write x.flatten(1) in the model)")
