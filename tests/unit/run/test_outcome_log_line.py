"""The run log names what a stage missed or chose, so log.txt reads without opening each stage's own log."""

from __future__ import annotations

from pathlib import Path

from toolkit.run.stage_runner import StageOutcome


def outcome(extra: dict, *, cached: bool = False, reason: str | None = None) -> StageOutcome:
    return StageOutcome(1, "prune", "prune", Path("02-prune"), "k", "ok", cached, 1.0, reason,
                        metrics={"extra": extra})


def test_a_missed_target_is_in_the_run_log_line_cached_or_not():
    assert outcome({"target_met": False}).log_line() == \
        "02-prune: ok, target missed (the stage's log.txt says by how much)"
    assert outcome({"target_met": False}, cached=True).log_line().startswith("02-prune: cached, target missed")


def test_the_round_to_auto_choice_and_its_reason_are_in_the_run_log_line():
    chosen = {"value": 8, "how": "measured", "reason": "8 channels timed 1.12x faster than 7 on openvino-cpu"}
    line = outcome({"target_met": True, "round_to": chosen}).log_line()
    assert line == "02-prune: ok; round_to auto: 8 (measured: 8 channels timed 1.12x faster than 7 on openvino-cpu)"
    assert outcome({"round_to": {"value": 16, "how": "table"}}).log_line() == "02-prune: ok; round_to auto: 16 (table)"


def test_a_plain_stage_keeps_its_short_line():
    assert outcome({}, reason="why not").log_line() == "02-prune: ok (why not)"
