"""Measure a stage's model the same way every time: size, MACs, accuracy, latency per runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.artifacts import Model, ModelArtifact
from toolkit.fsutil import file_hash
from toolkit.measure.accuracy import evaluate
from toolkit.measure.device import describe_device
from toolkit.measure.interleave import Candidate, latency_records
from toolkit.measure.profile import count_macs_params
from toolkit.registry import ONNX, ONNX_INT8, TENSORRT, TORCH
from toolkit.runtimes import get_runtime, runtime_names
from toolkit.config import MeasureSpec

ONNX_FILE = "model.onnx"
PARITY_SAMPLES = 256
ACCURACY_RUNTIMES = {ONNX: ("onnxruntime-cpu", "openvino-cpu"), ONNX_INT8: ("onnxruntime-cpu", "openvino-cpu"),
                     TENSORRT: ("tensorrt",)}


def torch_predict(model: nn.Module, device: torch.device):
    """A numpy-in, numpy-out predict function for a torch model on `device` (fp32, eval)."""
    model = model.to(device).eval()

    def predict(images):
        with torch.inference_mode():
            return model(torch.as_tensor(images).to(device)).float().cpu().numpy()

    return predict


def model_info(model: Model, stage_dir: Path, example: torch.Tensor) -> dict[str, Any]:
    """Format, parameters, MACs and file size of a stage's model."""
    if isinstance(model, nn.Module):
        macs, params = count_macs_params(model, example)
        weights = stage_dir / "model.safetensors"
        exists = weights.exists()
        return {"format": TORCH, "params": params, "macs": macs, "file": weights.name,
                "size_bytes": weights.stat().st_size if exists else None,
                "sha256": file_hash(weights) if exists else None}
    exists = model.path.exists()
    return {"format": model.format, "params": model.meta.get("params"), "macs": model.meta.get("macs"),
            "file": model.path.name, "size_bytes": model.path.stat().st_size if exists else None,
            "sha256": file_hash(model.path) if exists else None}


def ensure_onnx(model: nn.Module, stage_dir: Path, data, log=None, *, filename: str = ONNX_FILE, opset: int = 17,
                exporter: str = "auto", simplify: bool = False, samples: int = PARITY_SAMPLES
                ) -> tuple[ModelArtifact, dict[str, Any]]:
    """Export a torch model to stage_dir/filename and check parity against torch on `samples` real images.

    The one export-plus-parity path (the export stage calls it too); `log` gets a warning only when the
    ONNX model changes predictions (thresholds in toolkit.export.onnx.parity).
    """
    from toolkit.export.onnx import export_onnx, parity, parity_warning

    path = stage_dir / filename
    facts = export_onnx(model, path, data.example_input(1), opset=opset, exporter=exporter, simplify=simplify)
    artifact = ModelArtifact(ONNX, path)
    session = get_runtime("onnxruntime-cpu").load(artifact)
    facts.update(parity(model, session.predict, data.val_batches(limit=samples)))
    warning = parity_warning(facts)
    if log is not None and warning:
        log.warning(warning)
    return artifact, {"file": filename, **facts}


def _accuracy(model: Model, data, device: torch.device, onnx_model: ModelArtifact | None) -> dict[str, Any]:
    if isinstance(model, nn.Module):
        return {**evaluate(torch_predict(model, device), data.val_batches(), data.num_classes),
                "runtime": f"torch-{device.type}"}
    for name in ACCURACY_RUNTIMES.get(model.format, ()):
        runtime = get_runtime(name) if name in runtime_names() else None
        if runtime is not None and runtime.unavailable() is None:
            try:
                session = runtime.load(model)
                return {**evaluate(session.predict, data.val_batches(), data.num_classes), "runtime": name}
            except Exception as exc:  # noqa: BLE001 - e.g. an engine built for another GPU: record, go on
                return {"top1": None, "top5": None, "samples": 0, "runtime": name,
                        "reason": f"{type(exc).__name__}: {exc}"[:500]}
    return {"top1": None, "top5": None, "samples": 0,
            "reason": f"no runtime here can run {model.format} models"}


def measure_model(model: Model, *, data, spec: MeasureSpec, stage_dir: Path, device: torch.device,
                  log=None, scratch_dir: Path | None = None,
                  earlier: list[tuple[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The `model`, `accuracy`, `latency` and `device` sections of a stage's metrics.json.

    A torch model measured on ONNX runtimes is exported to `scratch_dir` (default: the stage folder).
    `earlier`: (stage label, latency record) measured before on this machine; an identical graph reuses them.
    """
    example = data.example_input(1)
    info = model_info(model, stage_dir, example)
    onnx_model = model if isinstance(model, ModelArtifact) and model.format == ONNX else None
    needs_onnx = isinstance(model, nn.Module) and any(
        ONNX in get_runtime(r).formats and TORCH not in get_runtime(r).formats for r in spec.runtimes)
    if needs_onnx:
        try:
            onnx_model, info["onnx"] = ensure_onnx(model, scratch_dir or stage_dir, data, log)
        except Exception as exc:  # noqa: BLE001 - export failures are recorded; torch runtimes still run
            info["onnx"] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:500]}
    accuracy = _accuracy(model, data, device, onnx_model) if spec.accuracy else {"top1": None, "top5": None,
                                                                                  "samples": 0}
    latency = latency_records([Candidate("this", model, onnx_model)], data, spec, earlier)["this"]
    return {"model": info, "accuracy": accuracy, "latency": latency, "device": describe_device()}
