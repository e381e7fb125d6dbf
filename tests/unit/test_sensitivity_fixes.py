"""Review fixes of issue 22: the prune stage's layer report and options under `allocation: sensitivity`."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from toolkit.stages.prune import Prune, _report_layers


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
    text = verdict(4.2, missed, close, "ov_b1")
    assert "NOT COMPARABLE" in text and "sensitivity missed its target" in text
    assert verdict(4.2, both_met, apart, None) == "target >= +1.5: MET"  # a MACs target: matched on MACs
