"""Torch-Pruning's pruner with `round_to` and `max_layer_ratio` that hold for every layer of a group.

For a group whose channels are coupled in G equal parts (GroupNorm with G groups, a convolution with
`groups=G`, channels split into gates), Torch-Pruning 1.6 ranks and removes channels per part and
repeats the choice in every part. Its `_round_to` then compares the per-part count with the layer's
whole channel count, so `round_to: 8` on a GroupNorm(8, 32) layer removes all or nothing: a ratio of
0.5 removed nothing and `macs_speedup: 2` was unreachable. Here the rounding works in parts: the
layer keeps a multiple of `round_to` channels overall (G x kept-per-part), as the README promises.

Torch-Pruning also rounds and caps only the group's root layer; a group coupled through a concatenation
(ghost modules) removed up to twice the rounded count and left 1-2 channel layers. Every group it
yields is checked layer by layer here (`toolkit.prune.floors`) and re-chosen, or left whole with the
reason in `kept_whole`, when a layer would break the limits.
"""

from __future__ import annotations

import math

import torch
import torch_pruning as tp

from toolkit.prune.floors import Limits, choose_classes, coupled_classes, layer_items, whole_reason, within_limits
from toolkit.prune.own_params import apply_cuts, own_param_cuts
from toolkit.prune.stored_shapes import mend_view_shapes, own_lengths


class GroupAwarePruner(tp.pruner.BasePruner):
    """BasePruner whose round_to counts whole channels, also for channel-grouped layers, and whose limits
    (round_to, max_pruning_ratio, a floor of round_to channels) hold for every Conv/Linear of a group."""

    _parts = 1  # channel parts of the group being pruned (set just before _round_to runs)
    _wanted: int | None = None  # root channels Torch-Pruning chose to remove in that group (after rounding)

    def __init__(self, *args, round_to: int | None = None, **kwargs):
        # Torch-Pruning calls _round_to only when round_to is set; 1 changes no count and still tells us,
        # group by group, how many channels it meant to remove.
        super().__init__(*args, round_to=round_to or 1, **kwargs)
        self.limits = Limits(round_to or 1, round_to or 1, float(self.max_pruning_ratio))
        self.kept_whole: dict[str, str] = {}  # layer name -> why its group was left whole
        # Torch-Pruning drops a group whose closure would empty a layer before yielding it (GhostNet: 16 root
        # channels asked, 24 of 24 taken); this pruner's own graph lets every group through to
        # `_within_limits`, which re-chooses it and then applies Torch-Pruning's check.
        self._tp_check = self.DG.check_pruning_group
        self.DG.check_pruning_group = lambda group: True

    def _is_atten_group(self, group):
        # Called for each group in the pruning loop right before `_round_to`; remember its parts.
        self._parts = self._get_channel_groups(group)
        self._wanted = None
        return super()._is_atten_group(group)

    def _round_to(self, n_pruned: int, current_channels: int, round_to: int) -> int:
        parts = self._parts
        if parts <= 1 or current_channels % parts:
            result = super()._round_to(n_pruned, current_channels, round_to)
            self._wanted = result
            return result
        per_part = current_channels // parts
        unit = round_to // math.gcd(round_to, parts)  # parts x kept-per-part is then a multiple of round_to
        kept = per_part - n_pruned
        kept -= kept % unit
        if kept <= 0:  # never remove a whole part: keep the smallest allowed count
            kept = min(unit, per_part)
        result = max(per_part - kept, 0)
        self._wanted = result * parts
        return result

    def step(self, interactive: bool = False):
        """One pruning step; each group Torch-Pruning chose is first brought within the per-layer limits, and
        a Conv/Linear subclass's own per-channel parameters (ScaledStdConv2d's gain) lose the same channels, and a
        stored broadcast shape of a pruned parameter (MetaFormer's layer scale) follows it."""
        if interactive:  # the caller would prune the groups itself and leave those parameters behind
            raise ValueError("GroupAwarePruner prunes its groups itself: call step() without interactive")
        self.current_step += 1
        lengths = own_lengths(self.model)
        for group in (fitted for fitted in (self._within_limits(g) for g in self._prune()) if fitted is not None):
            cuts = own_param_cuts(self.DG, group)
            group.prune()
            apply_cuts(cuts)
        mend_view_shapes(self.model, lengths)
        return None

    @torch.no_grad()
    def _within_limits(self, group):
        """`group` when every layer keeps to the limits; otherwise the nearest removal that does, or None."""
        graph = self.DG
        grown = self._wanted is not None and len(group[0].idxs) > self._wanted  # the closure took more
        if not grown and within_limits(graph, group, self.limits, self.layer_init_out_ch) and self._tp_check(group):
            return group
        root, fn = group[0].dep.target.module, group[0].dep.handler
        if not graph.is_out_channel_pruning_fn(fn):
            return None  # an input-channel root: Torch-Pruning's own choice already failed the limits
        channels = graph.get_out_channels(root)
        classes = coupled_classes(graph, root, fn, channels, self._parts)
        full = graph.get_pruning_group(root, fn, list(range(channels)))
        now = {m: graph.get_out_channels(m) for m in layer_items(graph, full)}
        importance = self.estimate_importance(full)
        if importance is None or len(importance) != channels:
            scores = [float(min(c["root"])) for c in classes]
        else:
            scores = [float(importance[c["root"]].mean()) for c in classes]
        wanted = self._wanted if self._wanted is not None else len(group[0].idxs)
        chosen = choose_classes(classes, scores, wanted, now, self.layer_init_out_ch, self.limits)
        if chosen is None:
            names = graph._module2name
            reason = whole_reason(classes, now, names, self.limits)
            for module in now:
                self.kept_whole[names.get(module, "?")] = reason
            return None
        if not chosen:  # the nearest removal that fits is none at all
            return None
        fitted = graph.get_pruning_group(root, fn, chosen)
        return fitted if self._tp_check(fitted) else None
