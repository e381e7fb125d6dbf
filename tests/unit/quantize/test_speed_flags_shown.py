"""The INT8-slower flag follows the latencies shown when they were timed together, else the stage's own check."""

from __future__ import annotations

from toolkit.quantize.speed_flags import int8_slower_shown, source_records

CHECK_FASTER = {"int8_vs_fp32": {"records": [{"runtime": "onnxruntime-cpu", "batch_size": 32, "int8_slower": False}]}}
CHECK_SLOWER = {"int8_vs_fp32": {"records": [{"runtime": "onnxruntime-cpu", "batch_size": 32, "int8_slower": True}]}}


def rec(p50: float, low: float, high: float, session: str | None = "vm-1-a", interleaved: bool = True) -> dict:
    return {"runtime": "onnxruntime-cpu", "batch_size": 32, "status": "ok", "p50_ms": p50, "ci_low_ms": low,
            "ci_high_ms": high, "session": session, "interleaved": interleaved}


def test_a_retimed_int8_cell_at_twice_its_source_is_flagged_though_the_stage_check_said_faster():
    # the case a walkthrough met: INT8 8.22 ms against its fp32 source's 4.02 ms, re-timed together, no flag
    assert int8_slower_shown(CHECK_FASTER, [rec(8.22, 7.9, 8.6)], [rec(4.02, 3.9, 4.2)]) == {("onnxruntime-cpu", 32)}


def test_shown_latencies_faster_beyond_noise_clear_the_flag_and_overlapping_ones_do_not():
    assert int8_slower_shown(CHECK_SLOWER, [rec(3.0, 2.8, 3.2)], [rec(4.0, 3.7, 4.3)]) == set()
    assert int8_slower_shown(CHECK_SLOWER, [rec(4.1, 3.8, 4.4)], [rec(4.0, 3.7, 4.3)]) == {("onnxruntime-cpu", 32)}
    noisy = {**rec(3.0, 2.8, 3.2), "unstable": True}  # a noisy re-timing never overrules the stage's own check
    assert int8_slower_shown(CHECK_SLOWER, [noisy], [rec(4.0, 3.7, 4.3)]) == {("onnxruntime-cpu", 32)}


def test_the_source_is_the_nearest_earlier_stage_measured_there():
    measured = {"latency": [rec(4.0, 3.7, 4.3)]}
    skipped = {"latency": [{"runtime": "onnxruntime-cpu", "batch_size": 32, "status": "skipped"}]}
    rows = [{"latency": [rec(9.0, 8.0, 10.0)]}, measured, skipped, {"latency": []}, {"latency": [rec(8.2, 7.9, 8.6)]}]
    assert source_records(rows, 4, "onnxruntime-cpu", 32) == measured["latency"]
    assert source_records(rows, 0, "onnxruntime-cpu", 32) == []


def test_latencies_from_different_sessions_leave_the_stage_check_standing():
    shown = int8_slower_shown(CHECK_FASTER, [rec(8.22, 7.9, 8.6, "vm-2-b")], [rec(4.02, 3.9, 4.2)])
    assert shown == set()
    assert int8_slower_shown(CHECK_SLOWER, [rec(3.0, 2.9, 3.1, None)], [rec(4.0, 3.9, 4.1, None)]) == \
        {("onnxruntime-cpu", 32)}


def test_stages_timed_one_after_another_in_one_process_leave_the_stage_check_standing():
    # a fresh run times each stage when it ends: one session, minutes apart, not interleaved
    sequential = int8_slower_shown(CHECK_SLOWER, [rec(3.0, 2.9, 3.1, interleaved=False)],
                                   [rec(4.0, 3.9, 4.1, interleaved=False)])
    assert sequential == {("onnxruntime-cpu", 32)}


def test_a_stage_without_the_int8_check_is_never_flagged():
    assert int8_slower_shown({}, [rec(8.22, 7.9, 8.6)], [rec(4.02, 3.9, 4.2)]) == set()
