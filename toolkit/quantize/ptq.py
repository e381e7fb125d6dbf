"""Post-training quantization with onnxruntime.quantization: schemes, calibration reader, cached ranges."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toolkit.fsutil import atomic_path, file_hash, stable_hash

SCHEMES = {
    # TensorRT's explicit quantization: symmetric int8 everywhere, zero points 0, float bias.
    "tensorrt": {"activation": "QInt8", "weight": "QInt8", "extra": {"ActivationSymmetric": True,
                                                                      "WeightSymmetric": True,
                                                                      "QuantizeBias": False}},
    # x86 VNNI kernels: asymmetric uint8 activations with symmetric int8 per-channel weights.
    "cpu": {"activation": "QUInt8", "weight": "QInt8", "extra": {"ActivationSymmetric": False,
                                                                  "WeightSymmetric": True}},
}
METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
# ONNX Runtime's histogram collector stacks every batch's activations with np.asarray before flattening
# (onnxruntime/quantization/calibrate.py, HistogramCollector.collect_value): batches of different sizes
# make that a ragged array and it fails with "inhomogeneous shape". These methods get equal batches.
HISTOGRAM_METHODS = ("entropy", "percentile")


def even_batches(batches: list[torch.Tensor], batch_size: int) -> list[torch.Tensor]:
    """The same images re-split into equal batches of the largest size <= `batch_size` dividing their count.

    Input: (N_i, C, H, W) tensors; output: (b, C, H, W) tensors with b * k == sum(N_i), nothing dropped
    (a prime count gives one image per batch). Needed by ORT's entropy and percentile calibrators.
    """
    if not batches:
        return []
    images = torch.cat(batches)
    size = next(b for b in range(min(batch_size, len(images)), 0, -1) if len(images) % b == 0)
    return list(images.split(size))


class BatchReader:
    """onnxruntime CalibrationDataReader over calibration batches; counts how many batches were read."""

    def __init__(self, batches: list[torch.Tensor], input_name: str):
        self.batches, self.input_name, self.reads, self._next = batches, input_name, 0, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next batch as an input feed, or None when done."""
        if self._next >= len(self.batches):
            return None
        batch = self.batches[self._next]
        self._next += 1
        self.reads += 1
        return {self.input_name: batch.numpy().astype(np.float32)}

    def get_first(self) -> dict[str, np.ndarray]:
        """The first batch, without advancing (ModelOpt probes the model with it); not counted as a read."""
        return {self.input_name: self.batches[0].numpy().astype(np.float32)}

    def rewind(self) -> None:
        """Start again from the first batch."""
        self._next = 0

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Strided calibration support (ORT's CalibStridedMinMax)."""
        self._next = start_index


@dataclass
class Calibrated:
    """Where a quantized model came from: the cache file (None: the quantizer keeps none) and whether
    calibration ran."""

    cache_file: Path | None
    cache_hit: bool
    batches_read: int


def preprocess(fp32: Path, out: Path) -> None:
    """ONNX Runtime's recommended pre-processing (shape inference, graph optimisation) before quantizing."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with atomic_path(out) as tmp, _quiet():
        quant_pre_process(str(fp32), str(tmp), skip_symbolic_shape=False)


@contextlib.contextmanager
def _quiet():
    """ORT's quantizer logs advice at WARNING level through the root logger; keep the console clean.

    Only records from ONNX Runtime's quantization package below ERROR are dropped (a filter, removed again):
    the root logger's level and everyone else's records are left alone."""
    root = logging.getLogger()
    drop = _OrtAdvice()
    root.addFilter(drop)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.removeFilter(drop)


class _OrtAdvice(logging.Filter):
    """Drops ONNX Runtime quantizer records below ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        source = record.pathname.replace("\\", "/")
        return record.levelno >= logging.ERROR or "onnxruntime/quantization" not in source


def calibration_key(model_file: Path, calibration: dict[str, Any], data_identity: dict[str, Any]) -> str:
    """Cache key: the model's content hash and the calibration settings (scheme-independent ranges)."""
    return f"{file_hash(model_file)}-{stable_hash({'calibration': calibration, 'data': data_identity}, 12)}"


def quantize(prep: Path, out: Path, *, scheme: str, method: str, percentile: float, per_channel: bool,
             reader: BatchReader | None, cache_file: Path, exclude: list[str] | None = None) -> Calibrated:
    """Write a Q/DQ int8 model with onnxruntime.quantization.quantize_static; ranges come from or go to the cache."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    settings = SCHEMES[scheme]
    extra = dict(settings["extra"])
    if method == "percentile":
        extra["CalibPercentile"] = percentile
    hit = cache_file.is_file()
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, _quiet():
        quantize_static(str(prep), str(tmp), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=getattr(QuantType, settings["activation"]),
                        weight_type=getattr(QuantType, settings["weight"]),
                        calibrate_method=getattr(CalibrationMethod, METHODS[method]), extra_options=extra,
                        nodes_to_exclude=list(exclude or []), calibration_cache_path=str(cache_file))
    return Calibrated(cache_file, hit, reader.reads if reader is not None else 0)


def qdq_summary(path: Path) -> dict[str, Any]:
    """Count Q/DQ nodes and describe their types, zero points and per-channel axes (for metrics and tests)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    q = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    zero_types, nonzero, per_channel = set(), 0, 0
    for node in q + dq:
        if len(node.input) > 2 and node.input[2] in inits:
            zp = inits[node.input[2]]
            zero_types.add(str(zp.dtype))
            nonzero += int(np.any(zp != 0))
        scale = inits.get(node.input[1])
        if scale is not None and scale.ndim == 1 and scale.size > 1:
            per_channel += 1
    dq_outputs = {d.output[0] for d in dq}
    quantized_ops = sorted({c.op_type for c in model.graph.node if dq_outputs.intersection(c.input)}
                           - {"QuantizeLinear", "DequantizeLinear"})
    return {"quantize_nodes": len(q), "dequantize_nodes": len(dq), "zero_point_types": sorted(zero_types),
            "nonzero_zero_points": nonzero, "per_channel_dequantize": per_channel, "quantized_ops": quantized_ops}
