"""A missed latency target is explained by the search's reason (an unstable measurement), not by rounding."""

from __future__ import annotations

from toolkit.prune.stage import target_missed_message
from toolkit.prune.config import Prune

EXTRA = {"macs_speedup": 1.62, "params_removed": 0.41}


def test_an_unstable_measurement_is_the_reason_given_for_a_missed_latency_target():
    cfg = Prune.model_validate({"target": {"latency_speedup": 1.5, "runtime": "openvino-cpu"}})
    reason = "the measurement was unstable (interval 0.40-1.90 ms); the target is not claimed on it"
    line = target_missed_message({**EXTRA, "target_met": False, "target_reason": reason}, cfg)
    assert reason in line and "channel rounding" not in line and "within 5%" not in line


def test_a_missed_macs_target_still_names_channel_rounding():
    cfg = Prune.model_validate({"target": {"macs_speedup": 2.0}, "round_to": 8})
    line = target_missed_message({**EXTRA, "target_met": False}, cfg)
    assert "channel rounding to 8" in line and "1.62x MACs" in line


def test_a_missed_macs_target_names_the_steps_on_either_side():
    # measured on the quickstart's seed_cnn with round_to 2: uniform pruning jumps from 2.32x to 2.66x MACs
    search = [{"ratio": 0.3, "achieved": 1.963}, {"ratio": 0.35, "achieved": 2.3217},
              {"ratio": 0.4, "achieved": 2.6613}, {"ratio": 0.375, "achieved": 2.3217}]
    cfg = Prune.model_validate({"target": {"macs_speedup": 2.5}, "round_to": 2})
    line = target_missed_message({**EXTRA, "steps": [{"ratio": 0.4, "goal": 2.5, "search": search}]}, cfg)
    assert "2.32x (ratio 0.35) and 2.66x (ratio 0.4) on either side of 2.5x: ask for one of them, or lower round_to" \
        in line
    one = Prune.model_validate({"target": {"macs_speedup": 2.5}, "round_to": 1})
    assert target_missed_message({**EXTRA, "steps": [{"goal": 2.5, "search": search}]}, one).endswith("one of them")
    steps = [{"goal": 1.6, "search": search}, {"goal": 2.5, "search": search}]  # a later step's staircase moves
    assert "either side" not in target_missed_message({**EXTRA, "steps": steps}, cfg)


def test_a_missed_parameter_target_names_its_steps_as_shares():
    search = [{"ratio": 0.2, "achieved": 0.31}, {"ratio": 0.25, "achieved": 0.52}]
    cfg = Prune.model_validate({"target": {"params_ratio": 0.4}, "round_to": 8})
    line = target_missed_message({**EXTRA, "steps": [{"ratio": 0.25, "goal": 0.4, "search": search}]}, cfg)
    assert "31.0% of parameters removed (ratio 0.2) and 52.0% of parameters removed (ratio 0.25) on either side of " \
        "40.0% of parameters removed: ask for one of them, or lower round_to" in line


def test_no_step_hint_when_the_search_never_passed_the_goal():
    cfg = Prune.model_validate({"target": {"macs_speedup": 4.0}})
    line = target_missed_message({**EXTRA, "steps": [{"goal": 4.0, "search": [{"ratio": 0.5, "achieved": 3.1}]}]}, cfg)
    assert "either side" not in line
