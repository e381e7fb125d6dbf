"""What the inspector explains and suggests: coupled channel parts, hard-coded reshapes and channel splits."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from toolkit.prune.blocking import describe_reshape, hardcoded_reshapes
from toolkit.prune.channels import PrunePlan, run_hooked
from toolkit.prune.reach import describe_reach, pick_round_to, reachable_speedups


def coupled_parts(model: nn.Module, example: torch.Tensor) -> dict[str, dict[str, Any]]:
    """Conv/Linear layers whose output channels are split into equal coupled parts, by layer name.

    Finds GroupNorm (G groups: the conv feeding it) and grouped, non-depthwise convolutions (G groups:
    the conv itself and the conv feeding it), in execution order of one forward pass on `example`.
    Each entry: kind, parts (G), channels, per_part and the coupling module's name.
    """
    names = {m: n for n, m in model.named_modules()}
    order: list[nn.Module] = []
    run_hooked(model, example[:1], [m.register_forward_hook(lambda mod, i, o: order.append(mod))
                                    for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.GroupNorm))])
    found: dict[str, dict[str, Any]] = {}
    last: nn.Module | None = None

    def mark(layer: nn.Module | None, kind: str, parts: int, by: nn.Module) -> None:
        if layer is None or names.get(layer) in found or parts <= 1:
            return
        channels = int(getattr(layer, "out_channels", None) or layer.out_features)
        found[names[layer]] = {"kind": kind, "parts": parts, "channels": channels,
                               "per_part": channels // parts, "by": names.get(by, "")}

    for module in order:
        if isinstance(module, nn.GroupNorm):
            mark(last, "GroupNorm", module.num_groups, module)
            continue
        if isinstance(module, nn.Conv2d) and 1 < module.groups != module.in_channels:  # depthwise is not split
            mark(module, "grouped convolution", module.groups, module)
            mark(last, "grouped convolution input", module.groups, module)
        last = module
    return found


def add_coupling_advice(report: dict[str, Any], model: nn.Module, example: torch.Tensor,
                        head: nn.Module | None, num_classes: int = 10, ignore: list[str] | None = None) -> None:
    """Explain channel coupling found in the model and suggest ratio/round_to values that prune it.

    The suggested round_to comes from test prunes: the default, the parts' least common multiple (one
    channel per part) and null are tried, and `report["reachable"]` says how far each gets in MACs."""
    try:
        parts = coupled_parts(model, example)
    except Exception:  # noqa: BLE001 - explanations must not break the inspection
        return
    head_name = next((n for n, m in model.named_modules() if m is head), None)
    parts.pop(head_name, None)
    report["coupling"] = [{"module": name, **info} for name, info in parts.items()]
    if not parts:
        return
    smallest = min(info["per_part"] for info in parts.values())
    groups = sorted({info["parts"] for info in parts.values()})
    round_to = math.lcm(*groups)
    # Part counts such as 6, 13 and 55 (RegNet's grouped convolutions) have a common multiple as wide as a layer or
    # wider: that layer would be kept whole (rounding never goes below one multiple), so it is neither tried nor
    # suggested.
    if round_to >= min(info["channels"] for info in parts.values()):
        round_to = None
    kinds = ", ".join(sorted({i["kind"] for i in parts.values()}))
    report["notes"].append(
        f"{len(parts)} layer(s) have channels coupled in equal parts ({kinds}, "
        f"{'/'.join(map(str, groups))} parts; smallest part {smallest} channel(s)): channels are removed at the "
        f"same positions in every part, so a layer's ratio moves in steps of 1/{smallest} (a channel per part) and "
        f"round_to counts whole channels (parts x kept-per-part). Settings that prune them: ratios that are "
        f"multiples of 1/{smallest} (e.g. {0.5 if smallest % 2 == 0 else round(1 / smallest, 3)}), "
        + (f"round_to {round_to} or a divisor of it" if round_to else "round_to null (their part counts share no "
           "multiple narrower than a layer)") + f", max_layer_ratio below {1 - 1 / smallest:.2f}")
    default = PrunePlan().round_to
    candidates = list(dict.fromkeys([default, round_to, None]))
    try:
        reach = reachable_speedups(model, example, num_classes, list(ignore or []), candidates)
    except Exception:  # noqa: BLE001 - explanations must not break the inspection
        reach = []
    best = pick_round_to(reach)
    report["reachable"] = reach
    if best is None:
        report["suggested"] = {**report.get("suggested", {}), "round_to": round_to}
        return
    report["suggested"] = {**report.get("suggested", {}), "round_to": best["round_to"]}
    chosen = "null" if best["round_to"] is None else best["round_to"]
    report["notes"].append(
        f"test prunes: {describe_reach(reach, default)}. Suggested round_to: {chosen}"
        + (" (the default already prunes the coupled parts)" if best["round_to"] == default else "")
        + (f", which makes macs_speedup targets up to {best['max_macs_speedup']:g} reachable"
           if best["at_ratio"] is not None else "; no setting removes channels here"))


def add_reshape_advice(report: dict[str, Any], exc: BaseException, model: nn.Module, example: torch.Tensor,
                       ignore: list[str], retry: Callable[[list[str]], dict[str, Any]]) -> None:
    """After a failed test prune (`exc`, unused: any failure can come from a reshape): name hard-coded reshapes,
    their layer, and the `ignore:` that fixes them; `retry(ignore)` runs the test prune again with that list."""
    reshapes = hardcoded_reshapes(model, example)
    if not reshapes:
        return
    suggested = sorted({r["producer"] for r in reshapes} - set(ignore))
    for entry in reshapes:
        report["blocking"].append({"module": entry["in_module"] or "(model forward)", "why": describe_reshape(entry)})
    _try_suggestion(report, ignore, suggested, retry)


def add_blocking_advice(report: dict[str, Any], exc: BaseException, model: nn.Module, ignore: list[str],
                        retry: Callable[[list[str]], dict[str, Any]]) -> None:
    """After a test prune whose pruned model no longer ran (PruneBlocked): the operation, its module, and the
    `ignore:` entries that keep its input's layer whole, in every module of that class (timm's MobileViT-v2 has
    an attention block per stage), tried with `retry(ignore)`."""
    from toolkit.prune.failing_call import PruneBlocked

    if not isinstance(exc, PruneBlocked):
        return
    call = exc.call
    report["blocking"].append({"module": call.module or "(model forward)", "op": call.op, "why": call.describe()})
    if call.producer is None:
        return
    places = [call.producer, *exc.others] if call.module == call.producer else \
        _same_place_in_siblings(model, call.module, call.producer)  # a layer blocked by itself: every such layer
    suggested = [name for name in places if name not in ignore]
    _try_suggestion(report, ignore, suggested, retry)


def add_split_advice(report: dict[str, Any], exc: BaseException, model: nn.Module, example: torch.Tensor,
                     ignore: list[str], retry: Callable[[list[str]], dict[str, Any]]) -> None:
    """After Torch-Pruning itself failed (TorchPruningFailed, e.g. an IndexError in its index bookkeeping): the
    channel splits of the model (timm's CSP stages, MixNet's mixed convolutions), where that bookkeeping usually
    breaks, and the `ignore:` entries that keep each split's input layer whole, tried with `retry(ignore)`."""
    from toolkit.prune.channel_slices import channel_splits
    from toolkit.prune.channels import TorchPruningFailed

    if not isinstance(exc, TorchPruningFailed):
        return
    try:
        splits = channel_splits(model, example)
    except Exception:  # noqa: BLE001 - explanations must not break the inspection
        return
    splits = [s for s in splits if s.producer not in ignore]
    if not splits:
        return
    for call in splits:
        report["blocking"].append({"module": call.module or "(model forward)", "op": call.op,
                                   "why": f"{call.error}: Torch-Pruning's index bookkeeping may fail on it"})
    _try_suggestion(report, ignore, [s.producer for s in splits if s.producer], retry)


def _same_place_in_siblings(model: nn.Module, module: str, producer: str) -> list[str]:
    """`producer`, and the layer at the same place in every other module of `module`'s class."""
    prefix = "model." if type(model).__name__ == "LogitsOutput" else ""
    modules = dict(model.named_modules())
    owner = modules.get(prefix + module) if module else None
    if owner is None or not producer.startswith(f"{module}."):
        return [producer]
    inner = producer[len(module) + 1:]
    found = [name.removeprefix(prefix) + f".{inner}" for name, m in modules.items()
             if type(m) is type(owner) and f"{name}.{inner}" in modules]
    return sorted(set(found) | {producer})


def _try_suggestion(report: dict[str, Any], ignore: list[str], suggested: list[str],
                    retry: Callable[[list[str]], dict[str, Any]]) -> None:
    """Re-run the test prune with `suggested` added to `ignore`; the note says how it went, and only an ignore list
    that works is suggested (`report["suggested"]["test_prune"]` holds the try either way)."""
    whole = list(ignore) + [name for name in suggested if name not in ignore]
    try:
        result = retry(whole)
        works = bool(result["output_shape_kept"]) and not result.get("removed_nothing")
    except Exception as exc:  # noqa: BLE001
        works, result = False, {"error": f"{type(exc).__name__}: {exc}"[:200]}
    report["suggested"] = {**report.get("suggested", {}), **({"ignore": whole} if works else {}),
                           "test_prune": result}
    why = result.get("error") or ("it removes nothing: every prunable layer is then kept whole"
                                  if result.get("removed_nothing") else "the output shape changes")
    report["notes"].append(f"a second test prune with ignore: {whole} "
                           + ("works: the model can be pruned with that list" if works else f"still fails ({why})"))
