"""Per-layer limits inside a coupled pruning group: round_to, max_layer_ratio and a floor for every layer.

Torch-Pruning 1.6 rounds and caps the channel count of a group's root layer only. Where a group couples
channels across a concatenation (a ghost module's `cat([primary, cheap(primary)])[:, :C]`, a split, a
slice), choosing channel i of the root pulls in channel i + C/2 as well: the group removes up to twice
what was asked, the counts are no longer multiples of `round_to`, and a thin layer (GhostNet's 16-channel
stem, its 8-channel ghost convolutions) ends with one or two channels. Here the root's channels are split
into the classes that can only be removed together (the dependency graph's closure of one channel,
merged with equal channel parts: GroupNorm, grouped convolutions), and the least important classes are
taken while every layer of the group keeps a multiple of `round_to`, at least `round_to` channels and at
most `max_layer_ratio` removed. When no such choice exists the group is left whole and the reason kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

LAYERS = (nn.Conv2d, nn.Conv1d, nn.Conv3d, nn.Linear)


@dataclass(frozen=True)
class Limits:
    """What every layer of a group must keep: a multiple of `round_to` (1: any count), at least `floor`
    channels, and no more than `max_ratio` of the channels it had when the pruner was made removed."""

    round_to: int
    floor: int
    max_ratio: float

    def fits(self, now: int, removed: int, initial: int) -> bool:
        """Whether a layer with `now` output channels (`initial` at the start) may lose `removed` of them."""
        if removed <= 0:
            return True
        kept = now - removed
        # int(): Torch-Pruning itself truncates initial x (1 - ratio), so the cap allows what it allows
        return kept >= self.floor and kept % self.round_to == 0 and kept >= int(initial * (1 - self.max_ratio))


def layer_items(graph, group) -> dict[nn.Module, set[int]]:
    """The Conv/Linear layers whose output channels the group removes, with the indices it removes."""
    found: dict[nn.Module, set[int]] = {}
    for dep, idxs in group:
        module = dep.target.module
        if isinstance(module, LAYERS) and graph.is_out_channel_pruning_fn(dep.handler):
            found.setdefault(module, set()).update(int(i) for i in idxs)
    return found


def within_limits(graph, group, limits: Limits, initial: dict[nn.Module, int]) -> bool:
    """Whether every layer of `group` keeps to `limits` after the removal it describes."""
    return all(limits.fits(graph.get_out_channels(m), len(idxs), initial.get(m, graph.get_out_channels(m)))
               for m, idxs in layer_items(graph, group).items())


class _Classes:
    """Union-find over the root's channel indices."""

    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _closure(graph, root: nn.Module, fn, channels: int) -> list[tuple[Any, list[Any]]]:
    """Every (dependency, indices) the removal of all the root's channels reaches, each index still carrying
    the root channel it came from: Torch-Pruning's own walk (DependencyGraph.get_pruning_group in 1.6)
    without its final merge, which keeps one root index per channel and so hides which root channels share a
    channel. One walk per group: the per-channel walk re-maps the whole graph each time (minutes on GhostNet)."""
    from torch_pruning import _helpers
    from torch_pruning.dependency import index_mapping
    from torch_pruning.dependency.dependency import Dependency

    index_mapping.update_index_mapping(graph)
    node = graph.module2node[root]
    start = [_helpers._HybridIndex(idx=i, root_idx=i) for i in range(channels)]
    items = [(Dependency(fn, fn, source=node, target=node), start)]
    stack = list(items)
    seen = {(node, fn, tuple(start))}
    visited = set()
    while stack:
        dep, idxs = stack.pop()
        visited.add(dep.target)
        for new_dep in dep.target.dependencies:
            if not new_dep.is_triggered_by(dep.handler):
                continue
            mapped = idxs
            for mapping in new_dep.index_mapping:
                if mapping is not None:
                    mapped = mapping(mapped)
            key = (new_dep.target, new_dep.handler, tuple(mapped))
            if not mapped or (new_dep.target in visited and key in seen):
                continue
            seen.add(key)
            items.append((new_dep, mapped))
            stack.append((new_dep, mapped))
    return items


def coupled_classes(graph, root: nn.Module, fn, channels: int, parts: int) -> list[dict[str, Any]]:
    """The root's channels in classes removed only together, each {"root": [idx], "layers": {module: n}}.

    A class is the root channels that reach a common channel anywhere in the group (a concatenation of a
    tensor with a function of itself couples i with i + C/2), merged with the equal parts a channel-grouped
    group repeats its choice in; "layers" counts the channels each Conv/Linear of the group loses with it.
    """
    items = _closure(graph, root, fn, channels)
    classes = _Classes(channels)
    first: dict[tuple[int, Any, int], int] = {}
    for dep, idxs in items:
        for h in idxs:
            if h.root_idx is None or not 0 <= h.root_idx < channels:
                continue
            key = (id(dep.target), dep.handler, int(h.idx))
            classes.union(first.setdefault(key, h.root_idx), h.root_idx)
    if parts > 1 and channels % parts == 0:
        per_part = channels // parts
        for i in range(per_part):
            for j in range(1, parts):
                classes.union(i, i + j * per_part)
    grouped: dict[int, dict[str, Any]] = {}
    for i in range(channels):
        grouped.setdefault(classes.find(i), {"root": [], "sets": {}})["root"].append(i)
    for dep, idxs in items:
        module = dep.target.module
        if not (isinstance(module, LAYERS) and graph.is_out_channel_pruning_fn(dep.handler)):
            continue
        for h in idxs:
            if h.root_idx is not None and 0 <= h.root_idx < channels:
                grouped[classes.find(h.root_idx)]["sets"].setdefault(module, set()).add(int(h.idx))
    return [{"root": e["root"], "layers": {m: len(s) for m, s in e["sets"].items()}} for e in grouped.values()]


def choose_classes(classes: list[dict[str, Any]], scores: list[float], wanted: int, now: dict[nn.Module, int],
                   initial: dict[nn.Module, int], limits: Limits) -> list[int] | None:
    """Root indices to remove: the least important classes, as many as keep every layer within `limits`
    with the root's removal nearest `wanted` (fewer on a tie, so possibly none, as rounding down to
    round_to removes none from a thin plain layer). None when no removal at all fits."""
    order = sorted(range(len(classes)), key=lambda c: scores[c])
    removed: dict[nn.Module, int] = {}
    fitting: list[tuple[int, int]] = []  # (prefix length, root channels removed)
    taken = 0
    for k, c in enumerate(order, 1):
        taken += len(classes[c]["root"])
        for module, n in classes[c]["layers"].items():
            removed[module] = removed.get(module, 0) + n
        if all(limits.fits(now[m], n, initial.get(m, now[m])) for m, n in removed.items()):
            fitting.append((k, taken))
    if not fitting:
        return None
    k, _ = min([(0, 0)] + fitting, key=lambda f: (abs(f[1] - wanted), f[1]))
    return sorted(i for c in order[:k] for i in classes[c]["root"])


def whole_reason(classes: list[dict[str, Any]], now: dict[nn.Module, int], names: dict[nn.Module, str],
                 limits: Limits) -> str:
    """Why no removal fits: the thinnest layer of the group and how many channels it loses at a time."""
    thinnest = min(now, key=lambda m: (now[m], names.get(m, "")))
    step = min((c["layers"].get(thinnest, 0) for c in classes if c["layers"].get(thinnest)), default=1)
    where = f"in its group of {len(now)} coupled layers, " if len(now) > 1 else ""
    return (f"left whole: {where}{names.get(thinnest, '?')} has {now[thinnest]} channels and loses {step} at a "
            f"time; no removal keeps every layer at a multiple of round_to {limits.round_to} with at least "
            f"{limits.floor} channel(s) and at most {limits.max_ratio:.0%} removed")
