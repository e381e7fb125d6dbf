"""TensorRT decisions that need no GPU: build paths for 10 vs 11, shapes, trtexec flags, fp16 ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.engine.plan import build_plan, precision_counts, profile_shapes, trt_major, trtexec_command
from toolkit.errors import UserInputError


def test_major_version_is_read_from_the_version_string():
    assert trt_major("10.13.0.35") == 10 and trt_major("11.4.0") == 11
    with pytest.raises(UserInputError):
        trt_major("ten")


def test_int8_is_always_the_strongly_typed_qdq_model():
    for major in (10, 11):
        plan = build_plan("int8", major)
        assert plan.onnx_source == "int8" and plan.strongly_typed and not plan.builder_flags


def test_fp16_uses_the_flag_on_10_and_an_fp16_onnx_on_11():
    ten, eleven = build_plan("fp16", 10), build_plan("fp16", 11)
    assert ten.builder_flags == ("FP16",) and not ten.strongly_typed and ten.onnx_source == "fp32"
    assert eleven.builder_flags == () and eleven.strongly_typed and eleven.onnx_source == "fp16"
    assert build_plan("fp16", 10, fp16_by="onnx").onnx_source == "fp16"
    with pytest.raises(UserInputError, match="removed BuilderFlag.FP16"):
        build_plan("fp16", 11, fp16_by="flag")


def test_implicit_calibration_exists_only_before_11_and_warns():
    plan = build_plan("int8", 10, calibration="implicit")
    assert plan.calibrator == "entropy2" and "INT8" in plan.builder_flags and plan.warnings
    with pytest.raises(UserInputError, match="removed INT8 calibrators"):
        build_plan("int8", 11, calibration="implicit")


def test_profile_covers_every_measured_batch_size():
    assert profile_shapes([32, 1, 8], (3, 224, 224)) == {"min": (1, 3, 224, 224), "opt": (32, 3, 224, 224),
                                                         "max": (32, 3, 224, 224)}


def test_trtexec_flags_differ_between_10_and_11(tmp_path):
    shapes = profile_shapes([1, 16], (3, 32, 32))
    ten = trtexec_command(build_plan("int8", 10), Path("m.onnx"), Path("m.engine"), shapes,
                          timing_cache=tmp_path / "t.cache", dla_core=0, opt_level=3, export_dir=tmp_path)
    eleven = trtexec_command(build_plan("int8", 11), Path("m.onnx"), Path("m.engine"), shapes)
    assert "--stronglyTyped" in ten and "--stronglyTyped" not in eleven
    assert "--minShapes=input:1x3x32x32" in ten and "--maxShapes=input:16x3x32x32" in ten
    assert {"--useDLACore=0", "--allowGPUFallback", "--builderOptimizationLevel=3"} <= set(ten)
    assert any(a.startswith("--exportLayerInfo=") for a in ten)
    fp16_ten = trtexec_command(build_plan("fp16", 10), Path("m.onnx"), Path("e"), shapes)
    fp16_eleven = trtexec_command(build_plan("fp16", 11), Path("m16.onnx"), Path("e"), shapes)
    assert "--fp16" in fp16_ten and "--fp16" not in fp16_eleven


def test_layer_precisions_are_counted_from_inspector_json():
    info = {"Layers": [{"Inputs": [{"Format/Datatype": "Int8 NC/32HW32"}]}, {"Inputs": [{"Format/Datatype": "Half"}]},
                       {"Inputs": [{"Format/Datatype": "Int8 NCHW"}]}, {"Inputs": []}]}
    assert precision_counts(info) == {"int8": 2, "fp16": 1, "unknown": 1}


def test_fp16_onnx_conversion_stays_numerically_close_on_onnxruntime(tmp_path):
    from toolkit.artifacts import ModelArtifact
    from toolkit.engine.fp16 import convert_to_fp16
    from toolkit.models import build_model
    from toolkit.convert.onnx import export_onnx
    from toolkit.runtimes import get_runtime
    from toolkit.config import ModelSpec

    torch.manual_seed(0)
    model = build_model(ModelSpec(arch="resnet20", kwargs={"width": 8}), 10).eval()
    x = torch.randn(4, 3, 32, 32)
    export_onnx(model, tmp_path / "m.onnx", x)
    facts = convert_to_fp16(tmp_path / "m.onnx", tmp_path / "m16.onnx")
    import onnx

    types = {i.data_type for i in onnx.load(str(tmp_path / "m16.onnx")).graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types
    runtime = get_runtime("onnxruntime-cpu")
    ref = runtime.load(ModelArtifact("onnx", tmp_path / "m.onnx")).predict(x.numpy())
    half = runtime.load(ModelArtifact("onnx", tmp_path / "m16.onnx")).predict(x.numpy())
    assert half.dtype == np.float32  # inputs and outputs stay fp32
    assert np.abs(half - ref).max() <= 2e-2 * max(1.0, float(np.abs(ref).max()))
    assert (half.argmax(1) == ref.argmax(1)).all()
    assert isinstance(facts["kept_fp32_ops"], list)
