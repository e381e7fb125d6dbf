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


def test_a_degraded_cut_keeps_its_pruning_section_marked_with_the_reason(tmp_path):
    import json

    from report_runs import quickstart_like_run  # tests/helpers is on sys.path
    from toolkit.report import write_report

    run = quickstart_like_run(tmp_path, "r")
    metrics_path, run_json = run / "02-prune" / "metrics.json", run / "run.json"
    metrics = json.loads(metrics_path.read_text())
    metrics.update(status="degraded", reason="top-1 0.25 is at chance level <4 classes>")
    metrics["extra"].update(method="l2", channels={"layer1": [16, 8]}, round_to={"value": 8, "how": "measured"})
    metrics_path.write_text(json.dumps(metrics))
    record = json.loads(run_json.read_text())
    record["stages"][1]["status"] = "degraded"
    run_json.write_text(json.dumps(record))
    html = write_report([run], tmp_path / "report.html").read_text()
    section = html[html.index('id="pruning"'):html.index('id="sensitivity"')]
    assert "02-prune <span class=\"degraded\">(degraded)</span>" in section
    assert "at chance level &lt;4 classes&gt;" in section and "multiples of 8 channels (measured)" in section


def test_layers_the_multiple_kept_whole_are_found_and_named_in_the_report(tmp_path):
    import json

    from report_runs import quickstart_like_run  # tests/helpers is on sys.path
    from toolkit.prune.round_to import rounding_blocked
    from toolkit.report import write_report

    channels = {"stem": [16, 16], "layer1": [16, 16], "layer2": [32, 16], "layer3": [8, 8], "fc": [10, 10]}
    assert rounding_blocked(channels, 16, {"fc"}) == ["stem", "layer1", "layer3"]
    assert rounding_blocked(channels, 1, set()) == [] and rounding_blocked(channels, None, set()) == []
    run = quickstart_like_run(tmp_path, "r")
    path = run / "02-prune" / "metrics.json"
    good = {"multiple": 16, "layers": ["layer1", "<b>"]}
    for blocked in (good, ["layer1"], {"multiple": "16", "layers": []}, {"multiple": 16, "layers": "x"}, 3):
        metrics = json.loads(path.read_text())  # run-folder data: a wrong type shows nothing
        metrics["extra"].update(method="l2", channels=channels, round_to_blocked=blocked)
        path.write_text(json.dumps(metrics))
        html = write_report([run], tmp_path / "report.html").read_text()
        said = ("round_to 16: 2 layer(s) of at most\n   16 channels could not be cut at this multiple "
                "(layer1, &lt;b&gt;).")
        assert (said in html) == (blocked is good)
