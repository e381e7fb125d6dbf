"""One forward pass that follows every tensor back to the last Conv/Linear that produced it.

`traced_forward(model, example, on_call)` calls `on_call(call)` for each torch function the forward makes, with
the module whose forward made it and the producing layer of its inputs; when a call raises, the returned state
names it. Used to say which layer's channels reach an operation that keeps channel counts in the model's code
(`failing_call`, `channel_slices`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

PRODUCERS = (nn.Conv2d, nn.Linear)


@dataclass
class Call:
    """A torch function call of the forward: `func`, its `args` and `kwargs`, the `module` whose forward made it (''
    for the model's own forward; named as a recipe's `ignore:` names it) and the `producer` of its inputs (or
    None)."""

    func: Any
    args: tuple
    module: str
    producer: str | None
    kwargs: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The function's name ('split', '__getitem__')."""
        return getattr(self.func, "__name__", str(self.func))


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors in a value, a (nested) list, tuple or dict of values."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in tensors_in(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in tensors_in(item)]
    return []


class _Tracer(TorchFunctionMode):
    def __init__(self, state: dict[str, Any], on_call: Callable[[Call], None] | None):
        super().__init__()
        self.state, self.on_call = state, on_call

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = tensors_in(args) + tensors_in(kwargs)
        source = next((self.state["producer"][id(t)] for t in inputs if id(t) in self.state["producer"]), None)
        stack = self.state["stack"]
        call = Call(func, args, stack[-1] if stack else "", source, kwargs)
        if self.on_call is not None:
            self.on_call(call)
        try:
            out = func(*args, **kwargs)
        except Exception:
            if self.state["failed"] is None:  # the innermost call sees the exception first
                self.state["failed"] = call
            raise
        if source is not None:
            for tensor in tensors_in(out):
                self.state["producer"][id(tensor)] = source
                self.state["alive"].append(tensor)  # kept alive, so that an id is never reused in this pass
        return out


def traced_forward(model: nn.Module, example: torch.Tensor,
                   on_call: Callable[[Call], None] | None = None) -> tuple[Exception | None, Call | None]:
    """Run `model` on `example` (N, C, H, W) once, eval mode, no gradients, calling `on_call` for every call.

    Returns (the exception the forward raised or None, the call that raised it or None); hooks and the mode are
    removed again whatever happens.
    """
    state: dict[str, Any] = {"stack": [], "producer": {}, "alive": [], "failed": None}
    # a model wrapped to pick its logits (models.outputs.LogitsOutput) is named as the recipe's ignore names it
    wrapped = type(model).__name__ == "LogitsOutput"
    names = {m: n.removeprefix("model.") if wrapped else n for n, m in model.named_modules()}

    def enter(module: nn.Module, _inputs: Any) -> None:
        state["stack"].append(names[module])

    def leave(module: nn.Module, _inputs: Any, output: Any) -> None:
        if state["stack"]:
            state["stack"].pop()
        if isinstance(module, PRODUCERS):
            for tensor in tensors_in(output):
                state["producer"][id(tensor)] = names[module]
                state["alive"].append(tensor)

    hooks = [h for m in names for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    try:
        with torch.no_grad(), _Tracer(state, on_call):
            model.eval()(example)
    except Exception as exc:  # noqa: BLE001 - the caller reports it
        return exc, state["failed"]
    finally:
        for hook in hooks:
            hook.remove()
    return None, None
