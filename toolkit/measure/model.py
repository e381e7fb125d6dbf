"""Measure a stage's model the same way every time: size, MACs, accuracy, latency per runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.artifacts import ONNX, ONNX_INT8, TENSORRT, TORCH, Model, ModelArtifact
from toolkit.config import MeasureSpec
from toolkit.convert.checked import ensure_onnx
from toolkit.fsutil import file_hash
from toolkit.measure.accuracy import evaluate, torch_predict
from toolkit.measure.device import describe_device, stamp_session
from toolkit.measure.interleave import Candidate, latency_records
from toolkit.measure.interrupts import reraise_if_interrupted
from toolkit.measure.profile import count_macs_params
from toolkit.records import FAILED, SKIPPED
from toolkit.runtimes import get_runtime, runtime_names

ACCURACY_RUNTIMES = {ONNX: ("onnxruntime-cpu", "openvino-cpu"), ONNX_INT8: ("onnxruntime-cpu", "openvino-cpu"),
                     TENSORRT: ("tensorrt",)}


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
                reraise_if_interrupted(exc)  # an interrupt wrapped by the runtime is not the model's failure
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
            reraise_if_interrupted(exc)
            info["onnx"] = {"status": FAILED, "reason": f"{type(exc).__name__}: {exc}"[:500]}
    accuracy = _accuracy(model, data, device, onnx_model) if spec.accuracy else {"top1": None, "top5": None,
                                                                                  "samples": 0}
    latency = stamp_session(latency_records([Candidate("this", model, onnx_model)], data, spec, earlier)["this"])
    export = info.get("onnx") if isinstance(info.get("onnx"), dict) else {}
    if onnx_model is None and export.get("status") == FAILED:  # say why, not "this one is torch"
        for rec in latency:
            if rec.get("status") == SKIPPED and ONNX in get_runtime(rec["runtime"]).formats \
                    and TORCH not in get_runtime(rec["runtime"]).formats:
                rec.update(status=FAILED, reason=f"no ONNX file to run: the export failed ({export.get('reason')})")
    return {"model": info, "accuracy": accuracy, "latency": latency, "device": describe_device()}
