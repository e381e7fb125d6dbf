"""Per-group pruning: Torch-Pruning's dependency-graph groups, each pruned by its own ratio."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from toolkit.errors import UserInputError
from toolkit.prune.channels import (
    PrunePlan,
    _producers_of_inputs,
    classifier_of,
    make_importance,
    resolve_ignored,
    shuffle_blocks,
    torch_pruning_errors,
)
from toolkit.prune.grouped import GroupAwarePruner


def _ignored(model: nn.Module, example: torch.Tensor, plan: PrunePlan) -> list[nn.Module]:
    head = classifier_of(model, example, plan.num_classes)
    return resolve_ignored(model, plan.ignore) + ([head] if head is not None else [])


def _check_supported(model: nn.Module, plan: PrunePlan) -> None:
    if shuffle_blocks(model):
        raise UserInputError("per-group pruning (sensitivity analysis, allocation: sensitivity) does not support "
                             "ShuffleNet-v2's channel shuffle; use allocation: uniform for this model")
    if plan.global_pruning:
        raise UserInputError("prune.global: per-group ratios (allocation: sensitivity) rank channels within each "
                             "group; set global: false")


def prunable_groups(model: nn.Module, example: torch.Tensor, plan: PrunePlan) -> list[dict[str, Any]]:
    """Every prunable group: {root, channels, members}, in the dependency graph's order.

    The root is the module Torch-Pruning starts the group from (the key for a per-group ratio); the
    members are every Conv/Linear/BatchNorm whose channels change with it. The classifier and the
    plan's ignored modules are left out, exactly as in a uniform prune.
    """
    import torch_pruning as tp

    _check_supported(model, plan)
    model = model.cpu().eval()
    example = example[:1].cpu()
    names = {m: n for n, m in model.named_modules()}
    graph = tp.DependencyGraph().build_dependency(model, example)
    groups = []
    for group in graph.get_all_groups(ignored_layers=_ignored(model, example, plan),
                                      root_module_types=[nn.Conv2d, nn.Linear]):
        root = group[0][0].target.module
        members: list[str] = []
        for dep, _ in group:
            name = names.get(dep.target.module)
            if name and name not in members:
                members.append(name)
        channels = getattr(root, "out_channels", None) or getattr(root, "out_features", None)
        groups.append({"root": names[root], "channels": int(channels), "members": members})
    return groups


def prune_groups(model: nn.Module, example: torch.Tensor, plan: PrunePlan, ratios: dict[str, float]) -> nn.Module:
    """Remove `ratios[root]` of the channels of each named group (in place, CPU, eval); others stay whole.

    Channels are chosen inside each group by the plan's criterion; `plan.max_layer_ratio` and
    `plan.round_to` apply as in a uniform prune. Raises UserInputError for a root that is not a module.
    """
    _check_supported(model, plan)
    model = model.cpu().eval()
    example = example[:1].cpu()
    plan.kept_whole.clear()
    wanted = {root: r for root, r in ratios.items() if r > 0}
    if not wanted:
        return model
    modules = dict(model.named_modules())
    missing = [root for root in wanted if root not in modules]
    if missing:
        raise UserInputError(f"no module named {missing[0]!r} in this model (per-group pruning ratios)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed)
        if plan.gradients is not None:
            model.zero_grad(set_to_none=True)
            plan.gradients(model)
        user_ignored = resolve_ignored(model, plan.ignore)
        with torch_pruning_errors(model, "this model per group"):
            pruner = GroupAwarePruner(  # round_to in whole channels, as the uniform path counts them
                model, example, importance=make_importance(plan.method), pruning_ratio=0.0,
                pruning_ratio_dict={modules[root]: float(r) for root, r in wanted.items()},
                max_pruning_ratio=plan.max_layer_ratio, round_to=plan.round_to,
                ignored_layers=_ignored(model, example, plan))
            pruner.ignored_layers.extend(_producers_of_inputs(pruner, user_ignored))
            pruner.step()
            plan.kept_whole.update(pruner.kept_whole)
    return model
