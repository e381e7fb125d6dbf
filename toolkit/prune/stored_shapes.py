"""View shapes a module stores for its own per-channel parameter, kept in step with the parameter when it is pruned.

timm's MetaFormer layer scale (poolformer, convformer) keeps `self.shape = (dim, 1, 1)` and multiplies by
`self.scale.view(self.shape)`. Torch-Pruning prunes `scale` with the channels it scales but cannot know the tuple,
so the pruned model stops running (`shape '[64, 1, 1]' is invalid for input of size 32`). Only a broadcast shape of
that parameter is changed -- a tuple whose first entry is the parameter's old length and whose others are 1 or -1 --
so no other number the code keeps is touched.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd

# Layers Torch-Pruning prunes through its own handlers (counts, kernel sizes): their tuples are never touched.
_PRUNED_BY_TORCH_PRUNING = (_ConvNd, nn.Linear, _NormBase, nn.GroupNorm, nn.LayerNorm)


def own_lengths(model: nn.Module) -> dict[str, dict[str, int]]:
    """{module name: {parameter name: length of its first dimension}} for every module's own parameters."""
    return {name: {key: int(p.shape[0]) for key, p in module.named_parameters(recurse=False) if p.dim() >= 1}
            for name, module in model.named_modules()}


def mend_view_shapes(model: nn.Module, before: dict[str, dict[str, int]]) -> list[str]:
    """After pruning: set every stored broadcast shape `(old, 1, ...)` of a parameter whose first dimension went
    from `old` to `new` (in the same module) to `(new, 1, ...)`; returns the attributes changed, as 'module.attr'."""
    mended = []
    for name, module in model.named_modules():
        if isinstance(module, _PRUNED_BY_TORCH_PRUNING):
            continue
        for key, old in before.get(name, {}).items():
            param = getattr(module, key, None)
            if param is None or param.dim() < 1 or int(param.shape[0]) == old:
                continue
            new = int(param.shape[0])
            for attr, value in list(vars(module).items()):
                if _broadcast_shape_of(value, old):
                    setattr(module, attr, type(value)([new, *value[1:]]))
                    mended.append(f"{name}.{attr}" if name else attr)
    return mended


def _broadcast_shape_of(value: object, length: int) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) >= 1 and all(type(v) is int for v in value)
            and value[0] == length and all(v in (1, -1) for v in value[1:]))
