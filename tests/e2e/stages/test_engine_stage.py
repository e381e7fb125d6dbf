"""The engine stage end to end: skipped with its reason without TensorRT; built and measured with it."""

from __future__ import annotations

import pytest

from toolkit.errors import RecipeError
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe
from toolkit.engine.stage import tensorrt_unavailable


def engine_recipe(tiny, tmp_path, engine=None):
    return tiny(stages=[{"train": {"epochs": 1}},
                        {"quantize": {"cache_dir": str(tmp_path / "calib"), "calibration": {"samples": 64}}},
                        {"engine": {"cache_dir": str(tmp_path / "calib"), **(engine or {})}}])


def test_without_tensorrt_the_engine_stage_is_skipped_with_the_reason_and_the_run_goes_on(tiny, tmp_path):
    reason = tensorrt_unavailable()
    if reason is None:
        pytest.skip("TensorRT and a GPU are present here; the tensorrt-marked test covers this machine")
    result = run_recipe(parse_recipe(engine_recipe(tiny, tmp_path)))
    engine = result.stages[-1]
    assert result.status == "complete" and engine.status == "skipped"
    assert engine.reason == reason and "pip install" in engine.reason
    assert engine.metrics["status"] == "skipped" and engine.format == "onnx-int8"
    assert (result.run_dir / "report.html").read_text().count("skipped") >= 1


def test_an_int8_engine_without_a_quantize_stage_is_refused_before_compute(tiny):
    with pytest.raises(RecipeError, match="Q/DQ model of a quantize stage"):
        parse_recipe(tiny(stages=[{"train": {"epochs": 1}}, {"engine": {"precision": "int8"}}]))
    parse_recipe(tiny(stages=[{"train": {"epochs": 1}}, {"engine": {"precision": "fp16", "compare": []}}]))


def test_the_auto_scheme_of_quantize_follows_an_engine_stage(tiny, tmp_path):
    result = run_recipe(parse_recipe(engine_recipe(tiny, tmp_path)))
    assert result.stages[1].metrics["extra"]["scheme"] == "tensorrt"


@pytest.mark.tensorrt
def test_int8_and_fp16_engines_build_and_measure(tiny, tmp_path):
    reason = tensorrt_unavailable()
    if reason:
        pytest.skip(reason)
    raw = engine_recipe(tiny, tmp_path, {"compare": ["fp16", "fp32"]})
    raw["measure"]["runtimes"] = ["tensorrt", "onnxruntime-cpu"]
    result = run_recipe(parse_recipe(raw))
    engine = result.stages[-1]
    assert engine.status == "ok" and (engine.directory / "model.engine").is_file()
    extra = engine.metrics["extra"]
    assert {b["precision"] for b in extra["engines"]} == {"int8", "fp16", "fp32"}
    assert extra["layer_precisions"].get("int8", 0) > 0
    assert engine.metrics["accuracy"]["top1"] is not None
    assert any(r["runtime"] == "tensorrt" and r["status"] == "ok" for r in engine.metrics["latency"])
