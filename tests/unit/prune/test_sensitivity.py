"""Sensitivity analysis and allocation on a tiny model with one planted sensitive group."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from toolkit.measure.paired import paired_round
from toolkit.measure.profile import count_macs_params
from toolkit.prune.allocation import allocate, greedy_allocation
from toolkit.prune.channels import PrunePlan
from toolkit.prune.groups import prunable_groups, prune_groups
from toolkit.prune.sensitivity import analyze_pruning, pruning_table
from toolkit.config import MeasureSpec

FAST = MeasureSpec(warmup_s=0.0, min_iters=3, min_time_s=0.0, max_time_s=1.0)


class Planted(nn.Module):
    """Three conv groups; `wide` and `spare` have half their channels dead (zero), `vital` uses every channel."""

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.wide = nn.Conv2d(3, 16, 3, padding=1)
            self.vital = nn.Conv2d(16, 16, 3, padding=1)
            self.spare = nn.Conv2d(16, 16, 3, padding=1)
            self.head = nn.Linear(16, 10)
        with torch.no_grad():
            for conv in (self.wide, self.spare):
                conv.weight[8:] = 0  # dead channels: L2 pruning removes these first, at no cost
                conv.bias[8:] = 0
            self.vital.weight.mul_(4.0)  # every vital channel matters
            self.vital.weight[:, 8:] = 0  # and nothing reads the dead ones
            self.head.weight[:, 8:] = 0

    def forward(self, x):
        x = torch.relu(self.wide(x))
        x = torch.relu(self.vital(x))
        x = torch.relu(self.spare(x))
        return self.head(x.mean((2, 3)))


@pytest.fixture(scope="module")
def planted():
    model = Planted().eval()
    images = torch.randn(256, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(images).argmax(1)

    def agreement(m: nn.Module) -> float:  # "top-1" against the unpruned model's own predictions
        with torch.no_grad():
            return float((m.eval()(images).argmax(1) == reference).float().mean())

    return model, images[:1], agreement


def plan() -> PrunePlan:
    return PrunePlan(method="l2", round_to=None, num_classes=10, max_layer_ratio=0.8)


def test_groups_exclude_the_classifier_and_prune_only_the_named_group(planted):
    model, example, _ = planted
    roots = [g["root"] for g in prunable_groups(model, example, plan())]
    assert sorted(roots) == ["spare", "vital", "wide"]
    pruned = prune_groups(copy.deepcopy(model), example, plan(), {"vital": 0.5})
    assert (pruned.wide.out_channels, pruned.vital.out_channels, pruned.spare.out_channels) == (16, 8, 16)
    assert pruned(example).shape == (1, 10)


def test_planted_sensitive_group_comes_out_first(planted):
    model, example, agreement = planted
    state = analyze_pruning(model, example, plan(), accuracy_of=agreement,
                            load_caller=lambda m: (lambda: m(example)),
                            time_round=lambda base, calls: paired_round(base, calls, FAST), rounds=2)
    rows = pruning_table(state)
    at_half = {r["root"]: r for r in rows if r["ratio"] == 0.5}
    assert max(at_half, key=lambda root: at_half[root]["points_lost"]) == "vital"
    assert at_half["vital"]["points_lost"] > 5
    assert at_half["wide"]["points_lost"] == 0 and at_half["spare"]["points_lost"] == 0  # dead channels went
    assert all(r["latency_saved_ms"] is not None and r["macs_saved"] > 0 for r in rows)
    assert len(state["latency_rounds"]) == 2


def test_greedy_takes_the_cheapest_cost_first_and_lands_on_the_goal():
    rows = [{"root": "a", "ratio": 0.5, "points_lost": 10.0, "macs_saved": 100},
            {"root": "b", "ratio": 0.5, "points_lost": 1.0, "macs_saved": 100},
            {"root": "b", "ratio": 0.75, "points_lost": 2.0, "macs_saved": 150}]
    plan_ = greedy_allocation(rows, cost="macs_saved", goal=120, max_ratio=0.8)
    assert plan_["reached"] and plan_["predicted_saved"] == pytest.approx(120)
    assert plan_["ratios"] == {"b": pytest.approx(0.6)}  # b to 0.5, then 40% of the way to 0.75
    unreachable = greedy_allocation(rows, cost="macs_saved", goal=1000, max_ratio=0.6)
    assert not unreachable["reached"] and set(unreachable["ratios"]) == {"a", "b"}


def test_allocation_meets_a_macs_target_and_spares_the_sensitive_group(planted):
    model, example, agreement = planted
    rows = pruning_table(analyze_pruning(model, example, plan(), accuracy_of=agreement, load_caller=None))
    base_macs = count_macs_params(model, example)[0]

    def macs_saved(ratios):
        return base_macs - count_macs_params(prune_groups(copy.deepcopy(model), example, plan(), ratios), example)[0]

    goal = base_macs * (1 - 1 / 1.4)
    chosen = allocate(rows, cost="macs_saved", goal=goal, accept=(goal * 0.95, goal * 1.05), max_ratio=0.8,
                      achieved_saved=macs_saved)
    assert chosen["in_band"], chosen["iterations"]
    assert chosen["ratios"].get("vital", 0.0) < min(chosen["ratios"].get("wide", 0), chosen["ratios"].get("spare", 0))
    pruned = prune_groups(copy.deepcopy(model), example, plan(), chosen["ratios"])
    assert base_macs / count_macs_params(pruned, example)[0] == pytest.approx(1.4, rel=0.05)
    assert agreement(pruned) == 1.0  # only dead channels had to go


def test_interrupted_analysis_resumes_without_redoing_finished_groups(planted):
    model, example, agreement = planted
    calls = {"n": 0}

    def counted(m):
        calls["n"] += 1
        return agreement(m)

    saved: list[dict] = []

    def save_then_stop(state):
        saved.append(copy.deepcopy(state))
        if sum(1 for g in state["groups"] if g.get("ratios")) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze_pruning(model, example, plan(), accuracy_of=counted, load_caller=None, save=save_then_stop)
    first = calls["n"]
    assert first == 1 + 2 * 3  # the baseline and two groups at three ratios
    resumed = analyze_pruning(model, example, plan(), accuracy_of=counted, load_caller=None, state=saved[-1])
    assert calls["n"] - first == 3  # only the third group
    fresh = analyze_pruning(model, example, plan(), accuracy_of=agreement, load_caller=None)
    assert pruning_table(resumed) == pruning_table(fresh)


def test_sensitivity_allocation_options_are_checked_and_uniform_keys_are_unchanged():
    from pydantic import ValidationError

    from toolkit.prune.config import Prune

    with pytest.raises(ValidationError, match="ratio target"):
        Prune(allocation="sensitivity", target={"ratio": 0.5})
    with pytest.raises(ValidationError, match="steps: 1"):
        Prune(allocation="sensitivity", steps=2)
    with pytest.raises(ValidationError, match="between 0 and 1"):
        Prune(allocation="sensitivity", sensitivity={"ratios": [1.5]})
    assert "allocation" not in Prune().key_dict() and "sensitivity" not in Prune().key_dict()
    assert Prune(allocation="sensitivity").key_dict()["allocation"] == "sensitivity"
