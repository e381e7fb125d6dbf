"""Measurement: latency records, ONNX parity, skipped runtimes with reasons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.data import build_data
from toolkit.convert.checked import ensure_onnx
from toolkit.measure.model import measure_model
from toolkit.measure.accuracy import evaluate
from toolkit.measure.device import describe_device, device_slug
from toolkit.measure.latency import time_calls
from toolkit.models import build_model
from toolkit.config import DataSpec, MeasureSpec, ModelSpec


def test_time_calls_reports_percentiles_after_warmup():
    calls = []
    spec = MeasureSpec(warmup_s=0.0, min_iters=7, min_time_s=0.0)
    record = time_calls(lambda: calls.append(1), spec)
    assert record["iterations"] >= 7 and record["warmup_iterations"] >= 2
    assert len(calls) == record["iterations"] + record["warmup_iterations"]
    assert record["p50_ms"] <= record["p90_ms"] <= record["p99_ms"]
    assert set(record) >= {"mean_ms", "unstable", "time_capped"}


def test_evaluate_counts_top1_and_top5():
    logits = np.array([[9, 1, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5, 6]], dtype=np.float32)
    batches = [(torch.zeros(2, 1), torch.tensor([0, 2]))]
    result = evaluate(lambda x: logits, batches, num_classes=7)
    assert result == {"top1": 0.5, "top5": 1.0, "samples": 2}
    assert evaluate(lambda x: logits[:, :3], [(torch.zeros(2, 1), torch.tensor([0, 2]))], 3)["top5"] is None


def test_onnx_export_matches_torch_within_1e_4(tmp_path):
    data = build_data(DataSpec(dataset="synthetic", image_size=16, num_samples=64))
    model = build_model(ModelSpec(arch="resnet20", kwargs={"width": 8}), data.num_classes).eval()
    _, facts = ensure_onnx(model, tmp_path, data)
    assert facts["max_abs_diff"] < 1e-4
    assert facts["top1_agreement"] == 1.0 and facts["opset"] >= 17
    import onnx

    dim = onnx.load(str(tmp_path / "model.onnx")).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param  # dynamic batch axis


def test_measure_model_fills_the_contract_and_explains_skips(tmp_path):
    from toolkit.models.io import save_model

    data = build_data(DataSpec(dataset="synthetic", image_size=24, num_samples=64))
    model = build_model(ModelSpec(arch="seed_cnn"), data.num_classes, 24).eval()
    save_model(model, tmp_path, {"model": {"arch": "seed_cnn"}, "num_classes": 10, "image_size": 24})
    spec = MeasureSpec(runtimes=["torch-cpu", "onnxruntime-cpu", "openvino-cpu", "torch-cuda"],
                       batch_sizes=[1, 4], warmup_s=0, min_iters=2, min_time_s=0)
    result = measure_model(model, data=data, spec=spec, stage_dir=tmp_path, device=torch.device("cpu"))
    assert result["model"]["params"] > 0 and result["model"]["macs"] > 0 and result["model"]["size_bytes"] > 0
    assert 0 <= result["accuracy"]["top1"] <= 1
    by_runtime = {(r["runtime"], r["batch_size"]): r for r in result["latency"]}
    assert by_runtime[("onnxruntime-cpu", 4)]["status"] == "ok"
    assert by_runtime[("openvino-cpu", 1)]["threads"]
    if not torch.cuda.is_available():
        assert by_runtime[("torch-cuda", 1)]["status"] == "skipped"
        assert "CUDA" in by_runtime[("torch-cuda", 1)]["reason"]
    assert result["device"]["cpu"]


def test_device_description_has_versions_and_a_slug():
    device = describe_device()
    assert "torch" in device["versions"] and device["logical_cpus"] >= 1
    assert device_slug(device) and "/" not in device_slug(device)


def test_a_model_with_fewer_outputs_than_classes_is_one_toolkit_error():
    from toolkit.errors import ToolkitError

    batches = [(torch.zeros(2, 3, 8, 8), torch.tensor([0, 7]))]
    assert evaluate(lambda x: np.zeros((2, 12)), batches, 10)["samples"] == 2  # more outputs: argmax still works
    with pytest.raises(ToolkitError, match="4,\\) outputs per image, but the data has 10 classes"):
        evaluate(lambda x: np.zeros((2, 4)), batches, 10)
