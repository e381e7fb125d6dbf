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
