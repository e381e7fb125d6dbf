"""QAT for the `tensorrt` scheme with NVIDIA ModelOpt's PyTorch quantization (`modelopt.torch.quantization`).

ModelOpt replaces Conv/Linear/pooling modules by quantized ones (no torch.fx tracing, so models with
data-dependent control flow work) whose fake-quant exports as TensorRT-style Q/DQ: symmetric int8, zero
points 0, per-channel weights on axis 0, a Q/DQ on each quantized layer's input and none between a Conv and
its activation. BatchNorm stays a module: with per-channel weight scales TensorRT folds it into the
convolution exactly (the fold multiplies each output channel's weights and scale by the same factor).

Calibration (the activation ranges QAT then trains with) runs before training on the quantize stage's
calibration images: `minmax` is ModelOpt's max calibration; `entropy` and `percentile` use its histogram
calibrator on the activations (weights are always max-calibrated, per channel).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from typing import Any

import torch
from torch import nn

from toolkit.errors import UserInputError


def _import_mtq():
    try:
        # Its import warns that it cannot export Hugging Face modules, that torch.jit.script is deprecated, and
        # (torch's C++-extension logger) that there is no CUDA runtime: noise for a CNN on any machine.
        cpp_logger = logging.getLogger("torch.utils.cpp_extension")
        level = cpp_logger.level
        cpp_logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Cannot find transformers")
                warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
                import modelopt.torch.quantization as mtq
        finally:
            cpp_logger.setLevel(level)
    except ImportError as exc:
        raise UserInputError(f"quantize.qat: QAT for the tensorrt scheme uses NVIDIA ModelOpt's PyTorch "
                             f"quantization, which cannot be imported ({exc}); pip install -e . installs it "
                             f"(with huggingface_hub), or set backend: onnxruntime for torch.ao QAT") from None
    return mtq


def int8_config(method: str) -> dict[str, Any]:
    """ModelOpt's INT8 config (per-channel int8 weights on axis 0, per-tensor int8 activations) for a toolkit
    calibration method; the histogram methods calibrate outside ModelOpt's algorithm (see `prepare_qat`)."""
    mtq = _import_mtq()
    cfg = copy.deepcopy(mtq.INT8_DEFAULT_CFG)
    if method == "minmax":
        return cfg
    for entry in cfg["quant_cfg"]:
        if entry.get("quantizer_name") == "*input_quantizer":
            entry["cfg"] = {**entry["cfg"], "calibrator": "histogram"}
    cfg["algorithm"] = None  # ModelOpt's max algorithm cannot finish a histogram; done by _histogram_calibrate
    return cfg


def _histogram_calibrate(model: nn.Module, batches: list[torch.Tensor], method: str, percentile: float,
                         device: torch.device) -> None:
    """Collect activation histograms (and weight maxima) over `batches`, then load entropy/percentile ranges."""
    from modelopt.torch.quantization.calib import HistogramCalibrator
    from modelopt.torch.quantization.model_calib import enable_stats_collection
    from modelopt.torch.quantization.nn import TensorQuantizer

    enable_stats_collection(model)
    with torch.no_grad():
        for batch in batches:
            model(batch.to(device))
    for quantizer in model.modules():
        if not isinstance(quantizer, TensorQuantizer) or not quantizer.is_enabled:
            continue
        calibrator = getattr(quantizer, "_calibrator", None)  # ModelOpt's own finish_stats_collection reads it so
        if isinstance(calibrator, HistogramCalibrator):
            quantizer.load_calib_amax(method, **({"percentile": percentile} if method == "percentile" else {}))
        elif calibrator is not None:
            quantizer.load_calib_amax()
        quantizer.enable_quant()
        quantizer.disable_calib()


def prepare_qat(model: nn.Module, batches: list[torch.Tensor], method: str, percentile: float,
                device: torch.device) -> nn.Module:
    """A fake-quantized copy of `model` with activation ranges calibrated on `batches` ((b, C, H, W) images).

    `method`: minmax (max), entropy or percentile (`percentile`, in %, of |activation|). Raises
    UserInputError when ModelOpt cannot be imported or no layer could be quantized."""
    mtq = _import_mtq()
    from modelopt.torch.quantization.nn import TensorQuantizer

    student = copy.deepcopy(model).to(device).eval()  # eval: calibration must not move BatchNorm statistics
    cfg = int8_config(method)

    def forward_loop(m: nn.Module) -> None:
        with torch.no_grad():
            for batch in batches:
                m(batch.to(device))

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # "Inserted N quantizers"
        warnings.filterwarnings("ignore", message="Cannot find transformers")  # its lazy export import warns
        student = mtq.quantize(student, cfg, forward_loop if method == "minmax" else None)
    if method != "minmax":
        _histogram_calibrate(student, batches, method, percentile, device)
    if not any(isinstance(q, TensorQuantizer) and q.is_enabled for q in student.modules()):
        raise UserInputError("quantize.qat: ModelOpt found no Conv, Linear or pooling layer to quantize in the "
                             "model")
    return student


def quantizer_count(model: nn.Module) -> dict[str, int]:
    """How many weight and input quantizers are enabled (for the stage's `extra`)."""
    from modelopt.torch.quantization.nn import TensorQuantizer

    names = [n for n, q in model.named_modules() if isinstance(q, TensorQuantizer) and q.is_enabled]
    return {"weight": sum(n.endswith("weight_quantizer") for n in names),
            "input": sum(n.endswith("input_quantizer") for n in names)}
