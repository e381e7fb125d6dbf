"""The pruning section's precision table (issue 30, item 1) reads run-folder data: wrong types and non-finite
values become '-' instead of breaking the report."""

from __future__ import annotations

from toolkit.report.build import _timed_in


def test_the_table_rows_come_from_latency_searched_steps_only():
    extra = {"steps": [{"step": 1, "precision": "int8", "precision_reason": "the recipe ships INT8", "goal": 1.5,
                        "runtime": "openvino-cpu", "batch_size": 32, "chosen": {"speedup": 1.52},
                        "chosen_fp32": {"speedup": 2.4}},
                       {"step": 2, "ratio": 0.3}]}  # a counted target: no precision, no row
    assert _timed_in(extra) == [{"step": 1, "precision": "int8", "reason": "the recipe ships INT8",
                                 "runtime": "openvino-cpu", "batch_size": 32, "goal": 1.5, "speedup": 1.52,
                                 "fp32_speedup": 2.4}]


def test_hostile_values_are_dropped_not_raised():
    for steps in (None, "x", [None, 3, {"precision": 7}], [{"precision": "int8", "chosen": [1], "goal": "fast",
                                                            "chosen_fp32": {"speedup": True}}]):
        rows = _timed_in({"steps": steps})
        assert all(r["speedup"] is None and r["fp32_speedup"] is None and r["goal"] is None for r in rows)
