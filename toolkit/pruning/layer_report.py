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


def off_target_layers(channels: dict[str, list[int | None]], asked: float, *, max_layer_ratio: float,
                      round_to: int | None, coupling: dict[str, dict[str, Any]], kept_whole: set[str]
                      ) -> list[dict[str, Any]]:
    """Layers whose removed share is more than OFF_BY away from `asked`, each with the likely reason.

    `channels` maps layer -> [before, after] output channels; `kept_whole` names the classifier and
    ignored layers (not reported). Reasons: coupled parts, round_to, max_layer_ratio, or coupling
    with a layer that is kept whole.
    """
    asked_capped = min(asked, max_layer_ratio)
    found = []
    for name, (before, after) in channels.items():
        if name in kept_whole or not before or after is None:
            continue
        removed = 1 - after / before
        if abs(removed - asked_capped) <= OFF_BY:
            continue
        part = coupling.get(name)
        if part:
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
