"""Per layer, the share of channels a prune stage removed against the share it was asked to remove."""

from __future__ import annotations

from typing import Any

OFF_BY = 0.1  # a layer whose removed share differs from the asked share by more than this is reported


def asked_ratio(target_ratio: float | None, steps: list[dict[str, Any]]) -> float:
    """The per-layer share asked: the target ratio, or the searched ratios of the steps compounded."""
    if target_ratio is not None:
        return target_ratio
    kept = 1.0
    for step in steps:
        kept *= 1 - float(step.get("ratio") or 0.0)
    return 1 - kept


def allocated_ratios(steps: list[dict[str, Any]]) -> dict[str, float] | None:
    """The per-group ratios a sensitivity allocation chose (group root layer -> share asked), else None.

    Such a step records `ratio` as a text ("per-group (sensitivity)"), not one number for every layer.
    """
    for step in steps:
        if step.get("allocation"):
            return {root: float(ratio) for root, ratio in step["allocation"]["ratios"].items()}
    return None


def off_target_layers(channels: dict[str, list[int | None]], asked: float | dict[str, float], *,
                      max_layer_ratio: float,
                      round_to: int | None, coupling: dict[str, dict[str, Any]], kept_whole: set[str],
                      reasons: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Layers whose removed share is more than OFF_BY away from `asked`, each with the likely reason.

    `asked` is one share for every layer, or per layer (a sensitivity allocation's group roots: only those
    are checked, since the other members of a group follow their root). `channels` maps layer -> [before, after]
    output channels; `kept_whole` names the classifier and
    ignored layers (not reported). Reasons: the pruner's own (`reasons`: a coupled group left whole because no
    removal kept every layer within round_to, max_layer_ratio and the floor), coupled parts, round_to,
    max_layer_ratio, or coupling with a layer that is kept whole.
    """
    found = []
    for name, (before, after) in channels.items():
        if name in kept_whole or not before or after is None:
            continue
        if isinstance(asked, dict) and name not in asked:
            continue
        asked_capped = min(asked[name] if isinstance(asked, dict) else asked, max_layer_ratio)
        removed = 1 - after / before
        if abs(removed - asked_capped) <= OFF_BY:
            continue
        part = coupling.get(name)
        if reasons and name in reasons:
            why = reasons[name]
        elif part:
            why = (f"{part['kind']} {part['by']} couples its {before} channels in {part['parts']} parts of "
                   f"{part['per_part']}: channels go in steps of {part['parts']}")
        elif round_to and before <= 2 * round_to:
            why = f"round_to {round_to} on a {before}-channel layer"
        elif removed == 0:
            why = "coupled with a layer that is kept whole (classifier, ignore:, or a depthwise/shuffle block)"
        else:
            why = "the channel count rounds to round_to and the group's shared importance"
        found.append({"layer": name, "channels": [before, after], "removed": round(removed, 4),
                      "asked": round(asked_capped, 4), "why": why})
    return found
