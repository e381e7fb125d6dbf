"""The tensorrt scheme's quantizer: ModelOpt makes it, its placement is checked, its scale cache is exact."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from toolkit.errors import RecipeError, UserInputError
from toolkit.run.pipeline import run_recipe
from toolkit.quantize.backend import choose_backend
from toolkit.recipe import parse_recipe


def recipe(tiny, tmp_path, **quantize):
    return tiny(stages=[{"train": {"epochs": 1}},
                        {"quantize": {"cache_dir": str(tmp_path / "calib"), "calibration": {"samples": 64},
                                      "scheme": "tensorrt", **quantize}}])


def activation_scales(path):
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.input[1]: inits[n.input[1]] for n in model.graph.node if n.op_type == "QuantizeLinear"}


@pytest.mark.slow
def test_tensorrt_scheme_is_made_by_modelopt_and_a_cache_hit_reproduces_its_scales(tiny, tmp_path):
    raw = recipe(tiny, tmp_path)
    first = run_recipe(parse_recipe(raw)).stages[-1]
    extra = first.metrics["extra"]
    assert extra["quantizer"]["backend"] == "modelopt" and extra["quantizer"]["package"] == "nvidia-modelopt"
    assert extra["placement"]["ok"] and extra["qdq"]["nonzero_zero_points"] == 0
    # dq_only: weights stored as int8 behind DequantizeLinear (not float behind Q/DQ), so the file is ~4x smaller
    assert first.status == "ok" and first.metrics["accuracy"]["top1"] is not None
    fp32_bytes = (first.directory.parent / "01-train" / "model.onnx").stat().st_size
    assert (first.directory / "model.int8.onnx").stat().st_size <= 0.4 * fp32_bytes
    assert not extra["calibration"]["cache_hit"] and extra["calibration"]["batches_read"] == 2
    assert extra["calibration"]["cache_file"].endswith(".modelopt.cache")
    report = (first.directory.parent / "report.html").read_text()
    assert "Made by <b>modelopt</b>" in report and "Q/DQ placement for TensorRT: <span class=\"ok\">ok" in report
    own_float = extra["float_by_quantizer"]  # ModelOpt keeps e.g. the classifier Gemm in float by itself
    assert any(r["op"] == "Gemm" for r in own_float) and not extra["kept_float"]
    assert "left in float by modelopt itself" in report and all(r["node"] in report for r in own_float)
    kept = tmp_path / "first.int8.onnx"
    shutil.copyfile(first.directory / "model.int8.onnx", kept)
    again = run_recipe(parse_recipe(raw), fresh=True).stages[-1]
    calib = again.metrics["extra"]["calibration"]
    assert calib["cache_hit"] and calib["batches_read"] == 1  # ModelOpt runs one batch, then takes the cache
    before, after = activation_scales(kept), activation_scales(again.directory / "model.int8.onnx")
    assert before.keys() == after.keys() and len(before) > 3
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_the_onnxruntime_backend_for_tensorrt_is_flagged_by_the_placement_check(tiny, tmp_path):
    result = run_recipe(parse_recipe(recipe(tiny, tmp_path, backend="onnxruntime")))
    extra = result.stages[-1].metrics["extra"]
    assert extra["quantizer"]["backend"] == "onnxruntime" and not extra["placement"]["ok"]
    assert extra["placement"]["counts"]["qdq_before_activation"] > 0
    assert "qdq_before_activation" in (result.run_dir / "report.html").read_text()


def test_percentile_with_modelopt_is_refused_before_compute(tiny, tmp_path):
    with pytest.raises(RecipeError, match="percentile"):
        parse_recipe(recipe(tiny, tmp_path, calibration={"method": "percentile"}))
    parse_recipe(recipe(tiny, tmp_path, calibration={"method": "percentile"}, backend="onnxruntime"))


def auto_recipe(tiny, tmp_path, engine: bool, **quantize):
    """`scheme: auto` as the quickstart has it: tensorrt when the recipe builds an engine."""
    raw = recipe(tiny, tmp_path, scheme="auto", **quantize)
    raw["stages"] += [{"engine": {"precision": "int8"}}] if engine else []
    return raw


@pytest.mark.parametrize("quantize, field, message", [
    ({"calibration": {"method": "percentile"}}, "stages[1].quantize.calibration.method", "not offered by ModelOpt"),
    ({"per_channel": False}, "stages[1].quantize.per_channel", "per output channel"),
])
def test_modelopt_refusals_are_found_before_compute_when_auto_resolves_to_tensorrt(tiny, tmp_path, quantize,
                                                                                   field, message):
    with pytest.raises(RecipeError, match=message) as caught:
        parse_recipe(auto_recipe(tiny, tmp_path, engine=True, **quantize))
    assert field in str(caught.value)
    parse_recipe(auto_recipe(tiny, tmp_path, engine=False, **quantize))  # auto -> cpu: ONNX Runtime, fine
    gpu = auto_recipe(tiny, tmp_path, engine=False, **quantize)
    gpu["measure"]["runtimes"] = ["onnxruntime-cpu", "torch-cuda"]  # a GPU runtime also resolves to tensorrt
    with pytest.raises(RecipeError, match=message):
        parse_recipe(gpu)


def test_modelopt_backend_with_the_cpu_scheme_is_refused_before_compute(tiny, tmp_path):
    with pytest.raises(RecipeError, match="symmetric int8 only") as caught:
        parse_recipe(recipe(tiny, tmp_path, scheme="cpu", backend="modelopt"))
    assert "stages[1].quantize.backend" in str(caught.value)
    with pytest.raises(RecipeError, match="symmetric int8 only"):  # auto resolving to cpu, too
        parse_recipe(auto_recipe(tiny, tmp_path, engine=False, backend="modelopt"))


@pytest.mark.parametrize("backend, scheme, method, per_channel, message", [
    ("modelopt", "cpu", "minmax", True, "symmetric int8 only"),
    ("auto", "tensorrt", "percentile", True, "not offered by ModelOpt"),
    ("auto", "tensorrt", "minmax", False, "per output channel"),
])
def test_backend_clashes_are_user_errors(backend, scheme, method, per_channel, message):
    with pytest.raises(UserInputError, match=message):
        choose_backend(backend, scheme, method, per_channel)
    assert choose_backend("auto", "cpu", method, per_channel).name == "onnxruntime"
