"""Conv and Linear subclasses that keep a per-output-channel parameter beside their weight: timm's ScaledStdConv2d
(NF-ResNet, NFNet) keeps `gain` (C_out, 1, 1, 1) and uses it to standardise its weight on every forward.

Torch-Pruning prunes a Conv2d subclass as a Conv2d: its weight, bias and `out_channels`, never the subclass's own
parameters, so the pruned layer's forward fails (`weight should contain 32 elements not 64`). The prune stage
refuses such a layer before Torch-Pruning runs, naming it, its parameter and the `prune.ignore` entry that keeps it
whole.
"""

from __future__ import annotations

from torch import nn

from toolkit.prune.failing_call import FailingCall, PruneBlocked

OWN = ("weight", "bias")


def per_channel_parameters(model: nn.Module) -> list[FailingCall]:
    """Every Conv/Linear (subclass) with a parameter of its own besides weight and bias whose first dimension is its
    output channels, as a FailingCall (op 'per-channel parameter', module and producer: the layer's name)."""
    wrapped = type(model).__name__ == "LogitsOutput"
    found = []
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        out = module.weight.shape[1 if getattr(module, "transposed", False) else 0]
        extra = [(key, tuple(p.shape)) for key, p in module.named_parameters(recurse=False)
                 if key not in OWN and p.dim() >= 1 and p.shape[0] == out and out > 1]
        if extra:
            key, shape = extra[0]
            layer = name.removeprefix("model.") if wrapped else name
            found.append(FailingCall("per-channel parameter", layer, layer,
                                     f"{type(module).__name__} keeps '{key}' {shape} beside its weight; Torch-Pruning "
                                     f"cuts the weight and leaves '{key}' at {out}"))
    return found


def refuse_per_channel_parameters(model: nn.Module, ignored: list[nn.Module]) -> None:
    """Raise PruneBlocked (before=True) for the first such layer not in `ignored`, naming the others."""
    wrapped = type(model).__name__ == "LogitsOutput"
    kept = {name.removeprefix("model.") if wrapped else name for name, m in model.named_modules() if m in ignored}
    blocked = [c for c in per_channel_parameters(model) if c.producer not in kept]
    if blocked:
        raise PruneBlocked(blocked[0], before=True, others=[c.module for c in blocked[1:]])
