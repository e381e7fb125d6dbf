"""Folding the BatchNorm that torch.fx sees as a function into the convolution before it (QAT).

torch.fx's `fuse` folds `Conv2d -> BatchNorm2d` module calls. A BatchNorm subclass defined outside torch.nn is
not a leaf of the tracer: its forward is traced through, and `F.batch_norm` appears as a function call that
no module pattern matches. timm's `BatchNormAct2d` (LCNet, EfficientNet, RegNet, ...) is such a class: QAT of
timm's lcnet_050 kept 27 float BatchNormalization nodes in its "INT8" file, which came out larger than fp32
and 5x slower. Here every eval-mode `F.batch_norm` whose input is a Conv2d's output, used by nothing else
(but shape reads), with running statistics read from the module's buffers, is folded into that conv's weight
and bias.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

_SIGNATURE = inspect.signature(F.batch_norm)
_METADATA = {"ndim", "shape", "dtype", "device", "size", "dim"}  # reads that folding cannot change


def _only_feeds(source: fx.Node, node: fx.Node) -> bool:
    """`source` is used by `node` and otherwise only for its shape (timm asserts `x.ndim == 4` before its norm)."""
    for user in source.users:
        if user is node:
            continue
        reads = user.args[1] if user.op == "call_function" and user.target is getattr and len(user.args) > 1 \
            else user.target if user.op == "call_method" else None
        if reads not in _METADATA:
            return False
    return True


def _attr(module: nn.Module, node: Any) -> torch.Tensor | None:
    """The tensor a get_attr node reads (None for a missing argument); anything else is not foldable."""
    if node is None:
        return None
    if not isinstance(node, fx.Node) or node.op != "get_attr":
        raise LookupError("not a stored tensor")
    value: Any = module
    for part in node.target.split("."):
        value = getattr(value, part)
    return value


def fold_functional_batchnorm(graph_module: fx.GraphModule) -> int:
    """Fold the foldable `F.batch_norm` calls of `graph_module` into their convolutions, in place; returns how
    many were folded. Those in training mode, after anything but a Conv2d called once whose output nothing else
    reads (but its shape), or whose statistics are not stored tensors are left as they are (the INT8 speed check
    then counts them)."""
    modules = dict(graph_module.named_modules())
    calls: dict[str, int] = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    folded = 0
    for node in list(graph_module.graph.nodes):
        if node.op != "call_function" or node.target is not F.batch_norm:
            continue
        try:
            bound = _SIGNATURE.bind(*node.args, **node.kwargs)
        except TypeError:
            continue
        bound.apply_defaults()
        args = bound.arguments
        source = args["input"]
        if args["training"] is not False or not isinstance(source, fx.Node) or source.op != "call_module":
            continue
        conv = modules.get(source.target)
        if type(conv) is not nn.Conv2d or calls.get(source.target) != 1 or not _only_feeds(source, node):
            continue
        try:
            mean, var = _attr(graph_module, args["running_mean"]), _attr(graph_module, args["running_var"])
            gamma, beta = _attr(graph_module, args["weight"]), _attr(graph_module, args["bias"])
        except (LookupError, AttributeError):
            continue
        if mean is None or var is None:
            continue
        gamma = torch.ones_like(mean) if gamma is None else gamma
        beta = torch.zeros_like(mean) if beta is None else beta
        with torch.no_grad():
            conv.weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, mean, var, float(args["eps"]),
                                                     gamma, beta)
        conv.bias = bias
        node.replace_all_uses_with(source)
        graph_module.graph.erase_node(node)
        folded += 1
    if folded:
        graph_module.graph.eliminate_dead_code()
        graph_module.graph.lint()
        graph_module.recompile()
    return folded
