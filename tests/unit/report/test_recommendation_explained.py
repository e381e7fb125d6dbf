"""The recommendation's sentence is built from the facts that chose it, and agrees with the table.

Run folders are crafted for each case: a tie inside the budget, a faster model within the budget, every
faster model over the budget, and an INT8 model slower than fp32 on one runtime."""

from __future__ import annotations

import json
from pathlib import Path

from report_runs import quickstart_like_run  # noqa: E402  (tests/helpers is on sys.path)
from toolkit.report import render


def _set(run: Path, stage: str, top1: float | None = None, **p50_by_runtime: tuple[float, float, float]) -> None:
    """Give `stage` a top-1 and, per runtime, a p50 with its 95% interval (low, p50, high)."""
    path = run / stage / "metrics.json"
    metrics = json.loads(path.read_text())
    if top1 is not None:
        metrics["accuracy"]["top1"] = top1
    for rec in metrics["latency"]:
        key = rec["runtime"].replace("-", "_")
        if key in p50_by_runtime:
            low, p50, high = p50_by_runtime[key]
            rec.update(p50_ms=p50, ci_low_ms=low, ci_high_ms=high)
    path.write_text(json.dumps(metrics))


def _only_ort(run: Path) -> None:
    """Keep one runtime so that each case has one obvious table row to check against."""
    for stage in run.iterdir():
        path = stage / "metrics.json"
        if path.is_file():
            metrics = json.loads(path.read_text())
            metrics["latency"] = [r for r in metrics["latency"] if r["runtime"] == "onnxruntime-cpu"]
            path.write_text(json.dumps(metrics))


def _recommendation(run: Path) -> dict:
    html, summary = render([run])
    rec = summary["runs"][0]["recommendations"][0]
    assert rec["explanation"] in html  # the page shows the same sentence (no markup in these names)
    return rec


def _case(tmp_path: Path) -> Path:
    run = quickstart_like_run(tmp_path, "r")
    _only_ort(run)
    _set(run, "01-train", onnxruntime_cpu=(7.6, 7.8, 8.0))
    return run


def test_a_tie_within_the_budget_is_named_with_the_rule_that_broke_it(tmp_path):
    # the quickstart case: 03-distill has the baseline's graph speed and -0.28 points; 02-prune is
    # faster beyond noise but 5.28 points down
    run = _case(tmp_path)
    _set(run, "02-prune", 0.9333, onnxruntime_cpu=(3.9, 4.0, 4.1))
    _set(run, "03-distill", 0.9833, onnxruntime_cpu=(7.7, 7.832, 8.0))
    _set(run, "04-quantize", 0.90, onnxruntime_cpu=(2.9, 3.0, 3.1))
    rec = _recommendation(run)
    assert rec["stage"] == "01-train" and rec["tied_with"] == ["03-distill on onnxruntime-cpu"]
    why = rec["explanation"]
    assert why.startswith("The baseline, 01-train on onnxruntime-cpu, stays: no model within the 1-point budget")
    assert "tied within noise with 03-distill on onnxruntime-cpu; a tie (95% intervals that overlap) goes to " \
           "the more accurate model" in why
    assert "also within the budget" not in why  # 03-distill is named once, as the tie
    from toolkit.report import summary_markdown

    bullet = next(line for line in summary_markdown(render([run])[1]).splitlines() if "batch 1" in line)
    assert bullet.count("tied within noise") == 1, bullet  # the headline leaves the tie to the sentence
    assert ("over the budget: 04-quantize on onnxruntime-cpu (-8.61 points), 02-prune on onnxruntime-cpu "
            "(-5.28 points)") in why
    assert "every faster model lost more" not in why


def test_a_faster_model_within_the_budget_is_the_pick_and_says_so(tmp_path):
    run = _case(tmp_path)
    _set(run, "02-prune", 0.9806, onnxruntime_cpu=(3.9, 4.0, 4.1))
    _set(run, "03-distill", 0.9833, onnxruntime_cpu=(5.9, 6.0, 6.1))
    _set(run, "04-quantize", 0.90, onnxruntime_cpu=(1.9, 2.0, 2.1))
    rec = _recommendation(run)
    assert rec["stage"] == "02-prune" and rec["within_budget"] and not rec["tied_with"]
    assert rec["explanation"].startswith(
        "02-prune on onnxruntime-cpu is the fastest model within the 1-point budget (-0.55 points)")
    assert "over the budget: 04-quantize on onnxruntime-cpu (-8.61 points)" in rec["explanation"]


def test_when_every_model_is_over_the_budget_the_sentence_says_the_fastest_is_shown(tmp_path):
    run = _case(tmp_path)
    _set(run, "01-train", 0.99)
    for stage, ms in (("02-prune", 4.0), ("03-distill", 5.0), ("04-quantize", 3.0)):
        _set(run, stage, 0.95, onnxruntime_cpu=(ms - 0.1, ms, ms + 0.1))
    _set(run, "01-train", onnxruntime_cpu=(7.6, 7.8, 8.0))
    rec = _recommendation(run)
    # the baseline itself is within its own budget, so "nothing met the budget" cannot happen for a run with
    # a baseline; the pick is the baseline and the faster ones are all named as over the budget
    assert rec["stage"] == "01-train" and rec["within_budget"]
    assert "over the budget: 04-quantize on onnxruntime-cpu (-4.00 points), 02-prune on onnxruntime-cpu " \
           "(-4.00 points), 03-distill on onnxruntime-cpu (-4.00 points)" in rec["explanation"]


def test_an_int8_model_slower_than_fp32_is_left_out_and_its_note_stays_on_its_runtime(tmp_path):
    run = quickstart_like_run(tmp_path, "r")
    path = run / "04-quantize" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["extra"]["int8_vs_fp32"] = {"records": [{"runtime": "onnxruntime-cpu", "batch_size": 1,
                                                     "int8_slower": True}]}
    path.write_text(json.dumps(metrics))
    _set(run, "04-quantize", 0.9861, onnxruntime_cpu=(0.01, 0.011, 0.012))  # fastest of all, if it counted
    html, summary = render([run])
    rec = summary["runs"][0]["recommendations"][0]
    assert rec["int8_slower_excluded"] == ["04-quantize on onnxruntime-cpu"]
    assert rec["stage"] != "04-quantize" and rec["runtime"] == "openvino-cpu"
    assert "left out: 04-quantize on onnxruntime-cpu (its INT8 model was measured slower than fp32" \
           in rec["explanation"]
    assert rec["int8_slower_here"] == []  # the pick is on openvino-cpu: no onnxruntime note in its row
    assert "ran slower than its fp32 input" not in html
    _only_ort(run)  # now the pick is on onnxruntime-cpu, where the INT8 model was slower: its row says so
    html, summary = render([run])
    assert summary["runs"][0]["recommendations"][0]["int8_slower_here"] == ["04-quantize"]
    assert "not recommended: 04-quantize (INT8) ran slower than its fp32 input on onnxruntime-cpu" in html


def test_a_speedup_between_two_timing_sessions_is_said_to_compare_two_moments(tmp_path):
    run = _case(tmp_path)
    _set(run, "02-prune", 0.9806, onnxruntime_cpu=(3.9, 4.0, 4.1))
    for slower in ("03-distill", "04-quantize"):
        _set(run, slower, onnxruntime_cpu=(8.9, 9.0, 9.1))
    for stage, session in (("01-train", "earlier-run"), ("02-prune", "this-run")):
        path = run / stage / "metrics.json"
        metrics = json.loads(path.read_text())
        for rec in metrics["latency"]:
            rec["session"] = session
        path.write_text(json.dumps(metrics))
    rec = _recommendation(run)
    assert rec["stage"] == "02-prune" and rec["timed_apart"] is True
    assert "timed in different sessions" in rec["explanation"] and "compress bench RUN_DIR" in rec["explanation"]


def test_a_faster_model_the_baseline_beats_on_another_runtime_is_named_once(tmp_path):
    # 03-distill beats the baseline on ONNX Runtime but not the baseline on OpenVINO, which stays; the first
    # sentence names it, so "also within the budget" must not name it again
    run = quickstart_like_run(tmp_path, "r")
    _set(run, "01-train", onnxruntime_cpu=(7.6, 7.8, 8.0), openvino_cpu=(2.9, 3.0, 3.1))
    _set(run, "02-prune", 0.90, onnxruntime_cpu=(3.9, 4.0, 4.1), openvino_cpu=(2.4, 2.5, 2.6))
    _set(run, "03-distill", 0.9833, onnxruntime_cpu=(3.9, 4.0, 4.1), openvino_cpu=(5.9, 6.0, 6.1))
    _set(run, "04-quantize", 0.90, onnxruntime_cpu=(2.9, 3.0, 3.1), openvino_cpu=(1.9, 2.0, 2.1))
    rec = _recommendation(run)
    why = rec["explanation"]
    assert rec["stage"] == "01-train", why
    assert why.count("03-distill on onnxruntime-cpu") == 1, why
    assert "03-distill on onnxruntime-cpu ran faster than the baseline on their own runtime but slower than this " \
           "pick beyond noise" in why
