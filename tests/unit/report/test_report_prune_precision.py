"""The pruning section's precision table (issue 30, item 1) reads run-folder data: wrong types and non-finite
values become '-' instead of breaking the report."""

from __future__ import annotations

from toolkit.report.build import _round_to, _timed_in


def test_the_table_rows_come_from_latency_searched_steps_only():
    extra = {"steps": [{"step": 1, "precision": "int8", "precision_reason": "the recipe ships INT8", "goal": 1.5,
                        "runtime": "openvino-cpu", "batch_size": 32, "chosen": {"speedup": 1.52},
                        "chosen_fp32": {"speedup": 2.4}},
                       {"step": 2, "ratio": 0.3}]}  # a counted target: no precision, no row
    assert _timed_in(extra) == [{"step": 1, "precision": "int8", "reason": "the recipe ships INT8",
                                 "runtime": "openvino-cpu", "batch_size": 32, "goal": 1.5, "speedup": 1.52,
                                 "fp32_speedup": 2.4}]


def test_hostile_values_are_dropped_not_raised():
    for steps in (None, "x", [None, 3, {"precision": 7}]):
        assert _timed_in({"steps": steps}) == []
    for bad in ([1], {"speedup": True}, {"speedup": 10 ** 400}, {"speedup": float("nan")}, {"speedup": "2x"}):
        [row] = _timed_in({"steps": [{"precision": "int8", "chosen": bad, "goal": bad, "chosen_fp32": bad}]})
        assert row["speedup"] is None and row["fp32_speedup"] is None and row["goal"] is None


def test_round_to_auto_is_told_only_when_its_record_has_a_multiple():
    chosen = {"value": 16, "how": "measured", "reason": "timed layer1.0.conv1 <b>"}
    assert _round_to({"round_to": chosen}) == {"value": "16", "how": "measured", "reason": "timed layer1.0.conv1 <b>"}
    for bad in (None, 8, {"value": "16"}, {"value": None}, ["auto"]):
        assert _round_to({"round_to": bad}) is None


def test_the_number_filters_print_a_dash_for_values_they_cannot_format():
    from toolkit.report.write import _is_number

    assert [_is_number(v) for v in (3, 2.5, 10 ** 400, float("inf"), float("nan"), True, "1")] == \
        [True, True, False, False, False, False, False]
