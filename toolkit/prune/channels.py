"""One pruning pass: importance by method, ignored layers, the classifier kept, ShuffleNet handled."""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from toolkit.errors import ToolkitError, UserInputError
from toolkit.prune.blocking import describe_reshape, hardcoded_reshapes
from toolkit.prune.channel_slices import refuse_kept_slices

METHODS = ("l1", "l2", "taylor", "bn_scale", "lamp", "fpgm", "random")
PRUNABLE = (nn.Conv2d, nn.Linear)


def run_hooked(model: nn.Module, example: torch.Tensor, hooks: list) -> None:
    """One forward pass of `model` (eval mode, no gradients) on `example` for the forward hooks in `hooks` (their
    handles) to record what they need; the hooks are removed afterwards, also when the pass raises."""
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for hook in hooks:
            hook.remove()


def make_importance(method: str):
    """Torch-Pruning's importance criterion for a method name."""
    import torch_pruning as tp

    factories = {
        "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
        "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
        "taylor": lambda: tp.importance.GroupTaylorImportance(),
        "bn_scale": lambda: tp.importance.BNScaleImportance(),
        "lamp": lambda: tp.importance.LAMPImportance(p=2),
        "fpgm": lambda: tp.importance.FPGMImportance(p=2),
        "random": lambda: tp.importance.RandomImportance(),
    }
    return factories[method]()


@dataclass
class PrunePlan:
    """How to prune: criterion, scope, limits and what must not change."""

    method: str = "l2"
    global_pruning: bool = False
    max_layer_ratio: float = 0.8
    round_to: int | None = 8
    ignore: list[str] = field(default_factory=list)
    num_classes: int = 10
    seed: int = 0
    gradients: Callable[[nn.Module], None] | None = None  # fills .grad for the taylor criterion
    # filled by each prune: layer -> why its coupled group was left whole (no removal kept every layer within
    # round_to, max_layer_ratio and the floor); the stage records the final prune's
    kept_whole: dict[str, str] = field(default_factory=dict)


def classifier_of(model: nn.Module, example: torch.Tensor, num_classes: int) -> nn.Module | None:
    """The last executed Conv/Linear that outputs `num_classes` channels (the final classifier)."""
    order: list[nn.Module] = []
    run_hooked(model, example, [m.register_forward_hook(lambda mod, i, o: order.append(mod))
                                for m in model.modules() if isinstance(m, PRUNABLE)])
    heads = [m for m in order if (getattr(m, "out_features", None) or getattr(m, "out_channels", None)) == num_classes]
    return heads[-1] if heads else None


def resolve_ignored(model: nn.Module, patterns: list[str]) -> list[nn.Module]:
    """Modules whose names match the glob patterns; a pattern matching nothing is an error."""
    names = [n for n, _ in model.named_modules() if n]
    found = []
    for pattern in patterns:
        # A model wrapped to pick its logits (models.outputs.LogitsOutput) names its layers "model.<name>".
        prefix = "model." if type(model).__name__ == "LogitsOutput" else ""
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)
                or (prefix and n.startswith(prefix) and fnmatch.fnmatchcase(n[len(prefix):], pattern))]
        if not hits:
            examples = ", ".join(n for n, m in model.named_modules() if isinstance(m, PRUNABLE))
            raise UserInputError(f"prune.ignore: '{pattern}' matches no module; prunable modules are named "
                                 f"like: {examples[:300]}")
        found += [model.get_submodule(n) for n in hits]
    return found


def channel_counts(model: nn.Module) -> dict[str, int]:
    """Output channels of every Conv/Linear, by module name."""
    return {n: int(getattr(m, "out_channels", None) or m.out_features) for n, m in model.named_modules()
            if isinstance(m, PRUNABLE)}


def shuffle_blocks(model: nn.Module) -> list[nn.Module]:
    """torchvision ShuffleNet-v2 blocks (their channel shuffle defeats the dependency graph)."""
    return [m for m in model.modules() if type(m).__name__ == "InvertedResidual" and hasattr(m, "branch2")
            and type(m).__module__.endswith("shufflenetv2")]


def _producers_of_inputs(pruner, modules: list[nn.Module]) -> list[nn.Module]:
    """Layers whose output pruning would shrink the inputs of `modules` (ignoring them keeps shapes whole)."""
    import torch_pruning as tp

    extra = []
    for module in modules:
        if not isinstance(module, PRUNABLE) or module not in pruner.DG.module2node:
            continue
        in_fn = tp.prune_linear_in_channels if isinstance(module, nn.Linear) else tp.prune_conv_in_channels
        channels = module.in_features if isinstance(module, nn.Linear) else module.in_channels
        group = pruner.DG.get_pruning_group(module, in_fn, list(range(channels)))
        for dep, _ in group:
            if pruner.DG.is_out_channel_pruning_fn(dep.handler):
                extra.append(dep.target.module)
    return extra


def _pruner(module: nn.Module, example: torch.Tensor, plan: PrunePlan, ratio: float, ignored: list[nn.Module]):
    from toolkit.prune.grouped import GroupAwarePruner

    return GroupAwarePruner(module, example, importance=make_importance(plan.method), pruning_ratio=ratio,
                                global_pruning=plan.global_pruning, max_pruning_ratio=plan.max_layer_ratio,
                                round_to=plan.round_to, ignored_layers=ignored)


def prune_once(model: nn.Module, example: torch.Tensor, plan: PrunePlan, ratio: float) -> nn.Module:
    """Remove `ratio` of the channels of each prunable group (in place, CPU, eval mode); returns the model."""
    model = model.cpu().eval()
    example = example[:1].cpu()
    plan.kept_whole.clear()
    if ratio <= 0:
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed)  # the random criterion must pick the same channels in search and final pass
        if plan.gradients is not None:
            model.zero_grad(set_to_none=True)
            plan.gradients(model)
        user_ignored = resolve_ignored(model, plan.ignore)
        head = classifier_of(model, example, plan.num_classes)
        blocks = shuffle_blocks(model)
        with torch_pruning_errors(model, "this model"):
            if blocks:
                _prune_shuffle_blocks(model, example, plan, ratio, blocks, user_ignored)
            else:
                kept = user_ignored + ([head] if head is not None else [])
                refuse_kept_slices(model, example, kept)  # before Torch-Pruning, which can take minutes on them
                reshapes = hardcoded_reshapes(model, example)
                pruner = _pruner(model, example, plan, ratio, kept)
                pruner.ignored_layers.extend(_producers_of_inputs(pruner, user_ignored))
                pruner.step()
                plan.kept_whole.update(pruner.kept_whole)
                _check_runs(model, example, reshapes)
    return model


class TorchPruningFailed(ToolkitError):
    """Torch-Pruning raised inside its dependency graph or pruning step (not the toolkit, not the user's input);
    `detail` says what failed; the message adds where to look (`compress inspect`)."""

    detail: str = ""


@contextlib.contextmanager
def torch_pruning_errors(model: nn.Module, what: str) -> Iterator[None]:
    """Torch-Pruning's own exceptions as one TorchPruningFailed naming `what` was pruned and pointing at
    `compress inspect`; the toolkit's errors and Ctrl-C pass through. Gradients are dropped either way."""
    try:
        yield
    except (ToolkitError, KeyboardInterrupt):
        raise
    except Exception as exc:
        detail = f"Torch-Pruning could not prune {what} ({type(exc).__name__}: {exc})"
        failed = TorchPruningFailed(f"{detail}; run `compress inspect` on it for the blocking operations")
        failed.detail = detail
        raise failed from exc
    finally:
        model.zero_grad(set_to_none=True)


def _check_runs(model: nn.Module, example: torch.Tensor, reshapes: list[dict]) -> None:
    """The pruned model must still run; a hard-coded reshape, or an operation that splits or sizes channels by
    numbers the code keeps (PruneBlocked names it and its layer), is the usual reason it does not."""
    try:
        with torch.no_grad():
            model(example)
    except Exception as exc:  # noqa: BLE001 - any failure of the pruned model's code is explained below
        if reshapes:
            raise UserInputError(f"the pruned model no longer runs ({str(exc).splitlines()[0][:160]}): "
                                 + "; ".join(describe_reshape(r) for r in reshapes)) from None
        from toolkit.prune.failing_call import PruneBlocked, failing_call

        call = failing_call(model, example)
        if call is None:
            raise
        raise PruneBlocked(call) from exc


def _prune_shuffle_blocks(model, example, plan, ratio, blocks, user_ignored) -> None:
    """ShuffleNet-v2: prune the inner channels of each block's branch; the shuffled channels stay intact."""
    inputs: dict[int, torch.Tensor] = {}
    hooks = [b.branch2.register_forward_hook(lambda mod, inp, out, k=i: inputs.__setitem__(k, inp[0].detach()))
             for i, b in enumerate(blocks)]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    names = {m: n for n, m in model.named_modules()}
    for i, block in enumerate(blocks):
        branch = block.branch2
        if any(m in user_ignored for m in branch.modules()):
            continue
        convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
        pruner = _pruner(branch, inputs[i], plan, ratio, [convs[-1]])
        pruner.step()
        plan.kept_whole.update({f"{names[branch]}.{k}": why for k, why in pruner.kept_whole.items()})
