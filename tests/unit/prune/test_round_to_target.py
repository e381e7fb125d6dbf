"""`round_to: auto` gives way to a MACs or parameter target: the measured multiple is halved until the target is
reachable within the tolerance, and the stage says so."""

from __future__ import annotations

import torch
from rich.console import Console

from toolkit.cli.format import summary_tables
from toolkit.config import ModelSpec
from toolkit.measure.profile import count_macs_params
from toolkit.models import build_model
from toolkit.prune.config import Prune
from toolkit.prune.round_to_target import fit_round_to_to_target


def _seed_cnn():
    # 32 and 64 channels: at multiples of 8 the reachable MACs jump from 1.68x to 2.36x, missing 2x by far
    return build_model(ModelSpec(arch="seed_cnn"), 10).eval(), torch.randn(1, 3, 32, 32)


def test_a_coarse_measured_multiple_is_lowered_until_the_macs_target_is_met():
    model, x = _seed_cnn()
    said, chosen = [], {"value": 8, "how": "measured", "reason": "8 channels ran fastest"}
    cfg = fit_round_to_to_target(model, x, Prune(target={"macs_speedup": 2.0}, round_to=8), chosen, 10,
                                 count_macs_params(model, x), said.append)
    tried = chosen["lowered_for_target"]
    assert tried[0]["multiple"] == 8 and abs(tried[0]["achieved"] / 2.0 - 1) > 0.05
    assert abs(tried[-1]["achieved"] / 2.0 - 1) <= 0.05
    assert cfg.round_to == chosen["value"] == tried[-1]["multiple"] < 8 and chosen["measured"] == 8
    assert chosen["reason"].startswith("8 channels ran fastest; lowered from 8 to")
    assert said and "at multiples of 8 it lands at 1.68x MACs at best" in said[0]


def test_a_multiple_that_already_meets_the_target_or_a_ratio_target_is_left_alone():
    model, x = _seed_cnn()
    base = count_macs_params(model, x)
    for cfg in (Prune(target={"macs_speedup": 2.0}, round_to=2), Prune(target={"ratio": 0.5}, round_to=8)):
        chosen = {"value": cfg.round_to, "reason": "measured"}
        assert fit_round_to_to_target(model, x, cfg, chosen, 10, base, print) is cfg
        assert chosen == {"value": cfg.round_to, "reason": "measured"}


def test_the_stages_table_flags_a_missed_target_beside_ok():
    stages = [{"index": 1, "name": "prune", "status": "ok", "extra": {"target_met": False}},
              {"index": 2, "name": "distill", "status": "ok", "extra": {}}]
    console = Console(width=100, record=True, force_terminal=False)
    for table in summary_tables(stages):
        console.print(table)
    rows = [line for line in console.export_text().splitlines() if "prune" in line or "distill" in line]
    assert "ok, target missed" in rows[0] and "target missed" not in rows[1]
