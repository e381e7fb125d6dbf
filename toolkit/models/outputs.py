"""Models whose forward returns more than logits: pick the logits once, so every stage sees a plain tensor.

A user's classifier may return `(logits, embedding)`, a dict with a `logits` or `out` key, or a
namedtuple (torchvision's GoogLeNet/Inception in training mode). `model.logits` in the recipe names the
output (an index or a key); by default the first tensor of a tuple or the `logits`/`out` key of a dict
is used. The chosen output is wrapped in `LogitsOutput`, so training, pruning, export and the runtimes
all see one (batch, classes) tensor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from toolkit.errors import UserInputError

DEFAULT_KEYS = ("logits", "out")


def _describe(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"tensor {tuple(out.shape)}"
    if isinstance(out, dict):
        return "dict {" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in out.items()) + "}"
    if isinstance(out, (tuple, list)):
        return f"{type(out).__name__} (" + ", ".join(_describe(v) for v in out) + ")"
    return type(out).__name__


def pick(out: Any, selector: int | str | None) -> torch.Tensor:
    """The logits tensor inside a model output; raises UserInputError naming what was found."""
    if selector is None and isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        key = selector if selector is not None else next((k for k in DEFAULT_KEYS if k in out), None)
        if key in out and isinstance(out[key], torch.Tensor):
            return out[key]
    elif isinstance(out, (tuple, list)):
        if isinstance(selector, int) and -len(out) <= selector < len(out) and isinstance(out[selector], torch.Tensor):
            return out[selector]
        if selector is None:
            first = next((v for v in out if isinstance(v, torch.Tensor)), None)
            if first is not None:
                return first
        if isinstance(selector, str) and hasattr(out, selector):  # a namedtuple field
            return getattr(out, selector)
    raise UserInputError(f"model.logits: cannot find the logits ({selector!r}) in the model's output: "
                         f"{_describe(out)[:300]}; set model.logits to the output's index or key")


class LogitsOutput(nn.Module):
    """Wraps a model so that forward returns only the logits tensor (state dict keys gain `model.`)."""

    def __init__(self, model: nn.Module, selector: int | str | None = None):
        super().__init__()
        self.model = model
        self.selector = selector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images -> (N, classes) logits."""
        return pick(self.model(x), self.selector)


def with_logits_output(model: nn.Module, selector: int | str | None, example: torch.Tensor) -> nn.Module:
    """`model` itself when it returns a tensor (and no selector is set), else wrapped in LogitsOutput.

    Runs one forward pass on `example` (eval mode, no grad). A forward that fails is left for the caller's
    own pre-flight to report; an output without a tensor to pick raises UserInputError.
    """
    if isinstance(model, LogitsOutput):
        return model
    try:
        with torch.no_grad():
            out = model.eval()(example)
    except Exception:  # noqa: BLE001 - the pipeline's pre-flight reports a model that cannot run
        return model
    if selector is None and isinstance(out, torch.Tensor):
        return model
    pick(out, selector)  # fails early with the output's description
    return LogitsOutput(model, selector)
