"""Review fixes of issue 22: the prune stage's layer report and options under `allocation: sensitivity`."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from toolkit.prune.stage import _report_layers
from toolkit.prune.config import Prune


def _sensitivity_extra() -> dict:
    """A prune stage's extra after a sensitivity allocation (as sensitivity_step records it)."""
    allocation = {"ratios": {"conv1": 0.5, "layer1.conv": 0.25}, "cost": "macs_saved"}
    return {"steps": [{"ratio": "per-group (sensitivity)", "allocation": allocation, "step": 1}],
            "channels": {"conv1": [16, 8], "layer1.conv": [16, 16], "layer1.other": [16, 4], "fc": [10, 10]}}


@pytest.mark.parametrize("target", [{"macs_speedup": 2.0}, {"params_ratio": 0.4}])
def test_layer_report_after_sensitivity_allocation_uses_each_groups_ratio(target, caplog):
    cfg = Prune(allocation="sensitivity", target=target, round_to=None)
    ctx = SimpleNamespace(data=SimpleNamespace(num_classes=10), log=logging.getLogger("test-prune"))
    extra = _sensitivity_extra()
    with caplog.at_level(logging.INFO, logger="test-prune"):
        _report_layers(extra, cfg, ctx, coupling={})
    assert extra["layers"]["asked_ratio"] == {"conv1": 0.5, "layer1.conv": 0.25}
    off = {o["layer"]: o for o in extra["layers"]["off_target"]}
    assert set(off) == {"layer1.conv"}  # asked 0.25, kept whole; conv1 got its 0.5; members are not roots
    assert off["layer1.conv"]["asked"] == 0.25 and off["layer1.conv"]["removed"] == 0
    assert "per-group share asked" in caplog.text


def test_sensitivity_options_with_uniform_allocation_are_refused_but_a_dumped_recipe_loads():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="only with allocation: sensitivity"):
        Prune(sensitivity={"samples": 64})
    assert Prune(sensitivity={"samples": 64}, allocation="sensitivity").sensitivity.samples == 64
    dumped = Prune().model_dump(mode="json", by_alias=True)  # what Recipe.to_yaml writes for a uniform stage
    assert Prune.model_validate(dumped).allocation == "uniform"


def test_analyze_times_on_the_runtime_of_the_sensitivity_prune_stage(tmp_path):
    from conftest import tiny_recipe

    from toolkit.analyze.run import target_of
    from toolkit.recipe import parse_recipe

    raw = tiny_recipe(tmp_path)
    raw["measure"]["runtimes"] = ["torch-cpu"]
    uniform = {"prune": {"name": "first", "target": {"ratio": 0.2}}}
    sensitive = {"prune": {"name": "second", "allocation": "sensitivity",
                           "target": {"macs_speedup": 1.5, "runtime": "openvino-cpu", "batch_size": 4}}}
    raw["stages"] = raw["stages"] + [uniform, sensitive]
    assert target_of(parse_recipe(raw, base_dir=tmp_path), None, None) == ("openvino-cpu", 4)
    assert target_of(parse_recipe(raw, base_dir=tmp_path), "onnxruntime-cpu", None) == ("onnxruntime-cpu", 4)
    raw["stages"] = raw["stages"][:2]  # no sensitivity prune stage: measure's first
    assert target_of(parse_recipe(raw, base_dir=tmp_path), None, None)[0] == "torch-cpu"


def test_allocation_benchmark_verdict_is_not_comparable_at_unmatched_latency():
    from benchmarks.allocation import verdict

    both_met = [{"allocation": "uniform", "target_met": True}, {"allocation": "sensitivity", "target_met": True}]
    close = [{"ov_b1_p50": 1.00, "ov_b1_p90": 1.10}, {"ov_b1_p50": 1.05, "ov_b1_p90": 1.12}]
    apart = [{"ov_b1_p50": 7.92, "ov_b1_p90": 8.00}, {"ov_b1_p50": 6.75, "ov_b1_p90": 6.80}]
    assert verdict(4.2, both_met, close, "ov_b1") == "target >= +1.5: MET"
    assert verdict(1.0, both_met, close, "ov_b1") == "target >= +1.5: NOT MET"
    assert "NOT COMPARABLE" in verdict(4.2, both_met, apart, "ov_b1")
    missed = [both_met[0], {"allocation": "sensitivity", "target_met": False}]
    assert verdict(4.2, missed, close, "ov_b1") == "target >= +1.5: MET"  # one latency: compared at it
    text = verdict(4.2, missed, apart, None)  # a MACs target: matched on MACs, so both must meet it
    assert "NOT COMPARABLE" in text and "sensitivity missed its target" in text
    assert verdict(4.2, both_met, apart, None) == "target >= +1.5: MET"


def test_allocation_benchmark_matches_the_uniform_arms_measured_speedup():
    from benchmarks.allocation import matched_speedup

    curve = [{"ratio": 0.2, "speedup": 1.3395}, {"ratio": 0.3, "speedup": 1.6538}]
    assert matched_speedup({"ratio": 0.3, "speedup": None, "curve": curve}) == 1.654  # unstable: from its curve
    assert matched_speedup({"ratio": 0.3, "speedup": 1.7, "curve": curve}) == 1.7
    slower = [{"ratio": 0.1, "speedup": 0.985}]  # a busy machine: nothing to match, the recipe's target instead
    assert matched_speedup({"ratio": 0.1, "curve": slower}) is None
    assert matched_speedup({"ratio": 0.5, "curve": curve}) is None


def _analysis(int8: bool = True) -> dict:
    """An analysis result with one group that gained, one that saved no latency and one far more fragile."""
    rows = []
    for root, saved, loss in (("gainer", 0.05, -0.4), ("no_saving", -0.01, 1.0), ("fragile", 0.02, 60.0),
                              ("zero", 0.03, -0.001)):
        for ratio in (0.25, 0.5, 0.75):
            rows.append({"root": root, "ratio": ratio, "channels": 16, "channels_after": 8, "members": 2,
                         "top1": 0.5, "points_lost": loss * ratio * 2, "macs_saved": 10, "params_saved": 1,
                         "macs_share": 0.1, "latency_saved_ms": saved * ratio, "latency_share": 0.1,
                         "latency_spread_ms": 0.001, "points_per_ms": loss / saved})
    layers = [{"node": "/a/Conv", "op": "Conv", "points_lost_alone": -3.0, "points_recovered_float": -1.0},
              {"node": "/b/Conv", "op": "Conv", "points_lost_alone": 2.0, "points_recovered_float": 1.5}]
    result = {"complete": True, "key": "k", "command": "compress analyze r.yaml", "ratios": [0.25, 0.5, 0.75],
              "model": {"point": "01-train", "arch": "tiny"}, "data": {"samples": 10, "selection": "first 10"},
              "runtime": {"name": "onnxruntime-cpu", "batch_size": 1, "base_ms": 0.5, "rounds": 1},
              "baseline": {"top1": 0.5}, "pruning": rows, "seconds": {"total": 1.0}, "load_average": [1.0]}
    if int8:
        result["int8"] = {"settings": {"scheme": "cpu"}, "fp32_top1": 0.5, "int8_top1": 0.45, "layers": layers}
    return result


def test_one_sign_everywhere_points_lost_with_gains_marked_and_no_negative_zero():
    from toolkit.report.sensitivity_chart import points_lost_text, top_tables
    from toolkit.report.sensitivity_text import summary_lines

    assert [points_lost_text(v) for v in (1.234, -0.001, -0.4)] == ["1.23", "0.00", "-0.40 (gain)"]
    assert top_tables(_analysis())["cut_dropped"] == 1
    text = "\n".join(summary_lines(_analysis()))
    assert "-0.00" not in text and "-0.40 (gain) pts lost" in text and "fragile" in text.split("keep whole")[1]
    assert "1 group(s) left out: zero or negative measured latency saving" in text
    assert "-3.00 (gain) / -1.00 (lost) pts" in text and "2.00 / 1.50 pts" in text


def test_chart_clips_int8_gains_has_a_group_legend_and_symlog_for_a_fragile_group():
    from toolkit.report.sensitivity_chart import sensitivity_figure

    left, right = sensitivity_figure(_analysis()).axes
    assert left.get_yscale() == "symlog" and not left.texts  # no overlapping per-point labels
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["gainer", "no_saving", "fragile", "zero"]
    assert all(bar.get_width() >= 0 for bar in right.patches)  # a gain is no long red bar
    assert any("clipped" in t.get_text() for t in right.get_legend().get_texts())
    small = _analysis()
    small["pruning"] = [r for r in small["pruning"] if r["root"] != "fragile"]
    assert sensitivity_figure(small).axes[0].get_yscale() == "linear"


@pytest.mark.parametrize("int8", [True, False])
def test_report_section_is_numbered_and_describes_the_right_panel_only_with_int8(int8, tmp_path):
    import json

    from toolkit.report import render

    run_dir = tmp_path / "r"
    (run_dir / "01-train").mkdir(parents=True)
    (run_dir / "01-train" / "metrics.json").write_text(json.dumps({"stage": "train", "status": "ok", "index": 1}))
    (run_dir / "run.json").write_text(json.dumps({"name": "r", "status": "complete", "stages": [
        {"index": 1, "name": "train", "type": "train", "dir": "01-train", "status": "ok"}]}))
    (run_dir / "recipe.yaml").write_text("name: r\n")
    (run_dir / "analysis").mkdir()
    (run_dir / "analysis" / "sensitivity-01-train.json").write_text(json.dumps(_analysis(int8)))
    html, _ = render([run_dir])
    section = html[html.index('id="sensitivity"'):html.index('id="training"')]
    assert section.startswith('id="sensitivity">4.1 Sensitivity')
    assert ("Right panel" in section) == int8 and "<td>-0.00</td>" not in section and "-0.40 (gain)" in section
    assert "1 group(s) left out: zero or negative measured latency saving" in section


def test_the_additive_latency_prediction_is_none_rather_than_negative():
    # benchmarks/results/allocation_quick_resnet56_b32.json: 38.117 ms unpruned, -5.60725 ms "predicted"
    from toolkit.prune.sensitivity_step import predicted_latency

    assert predicted_latency(38.117, 38.117 + 5.60725) is None and predicted_latency(38.117, 38.117) is None
    assert predicted_latency(38.117, 8.117) == pytest.approx(30.0) and predicted_latency(None, 1.0) is None
