"""QAT inside the quantize stage: fake-quant training (with distillation when there is a teacher), Q/DQ export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.artifacts import ONNX_INT8, ModelArtifact
from toolkit.convert.deploy import deploy_form, deploy_note
from toolkit.convert.onnx import export_onnx
from toolkit.distill.kd import kd_loss
from toolkit.distill.teacher import teacher_logits_fn
from toolkit.quantize.backend import Backend, choose_qat_backend
from toolkit.quantize.calibration_input import calibration_input, calibration_message
from toolkit.quantize.config import Quantize
from toolkit.quantize.ptq import qdq_summary
from toolkit.quantize.qat import freeze_qat, prepare_qat
from toolkit.runtimes import get_runtime
from toolkit.site import TrainingEnv
from toolkit.train.loop import fit


def _prepare(model: nn.Module, cfg: Quantize, env: TrainingEnv, scheme: str, backend: Backend,
             example: torch.Tensor) -> tuple[nn.Module, dict[str, Any]]:
    """The fake-quantized model to train, and what calibrated it (ModelOpt calibrates before training;
    torch.ao's observers follow the activations during training)."""
    if backend.name != "modelopt":
        return prepare_qat(model, scheme, example), {"method": "moving-average minmax observers during training"}
    from toolkit.quantize.qat_modelopt import prepare_qat as prepare_modelopt
    from toolkit.quantize.qat_modelopt import quantizer_count

    calib = cfg.calibration
    batches, used = calibration_input(env.data, calib, env.seed, env.log)
    prepared = prepare_modelopt(model, batches, calib.method, calib.percentile, env.device)
    env.log.info(calibration_message(used, calib.method, False, len(batches)) + " before QAT")
    return prepared, {"method": calib.method, "percentile": calib.percentile, "samples": calib.samples,
                      "seed": env.seed, "split": "train",
                      "quantizers": quantizer_count(prepared), **used}


def _onnx_vs_torch(path, prepared: nn.Module, example: torch.Tensor) -> float:
    """Largest |ONNX Runtime output - fake-quant torch output| on `example`."""
    session = get_runtime("onnxruntime-cpu").load(ModelArtifact("onnx", path))
    with torch.inference_mode():
        reference = prepared(example).numpy()
    return float(np.abs(session.predict(example.numpy()) - reference).max())


def run_qat(model: nn.Module, cfg: Quantize, env: TrainingEnv, out: Path, scheme: str, why: str,
            teacher: nn.Module | None = None, teacher_name: str | int | None = None
            ) -> tuple[ModelArtifact | None, dict[str, Any]]:
    """Fine-tune with fake quantization, export Q/DQ ONNX, check it against the fake-quant torch model.

    The fake-quant tool is ModelOpt's for the tensorrt scheme, torch.ao's for cpu (`choose_qat_backend`).
    For tensorrt the residual Adds' skip inputs then reuse existing Q/DQ pairs (`share_residual_qdq`).
    `teacher`: distil from this model (soft targets at cfg.qat.temperature, weight cfg.qat.alpha) when given.
    `out`: where the INT8 Q/DQ ONNX file is written (on rank 0).
    Returns the INT8 Q/DQ model file and the stage's `extra` facts; (None, {}) on ranks other than 0."""
    backend = choose_qat_backend(cfg.backend, scheme)
    example = env.data.example_input(2)
    # fake-quantize the network that is deployed: RepVGG-style branches fused first (on a copy)
    model, deployed = deploy_form(model)
    if deployed is not None:
        (env.log.warning if deployed.get("status") == "failed" else env.log.info)("QAT: " + deploy_note(deployed))
    prepared, calibration = _prepare(model, cfg, env, scheme, backend, example)
    loss_fn = None
    if teacher is not None:
        teacher, logits = teacher_logits_fn(teacher, env.device, True)
        qat = cfg.qat

        def loss_fn(student, images, labels, index=None):
            z_s = student(images)
            return kd_loss(z_s, logits(images), labels, qat.temperature, qat.alpha, qat.label_smoothing), z_s

    history = fit(prepared, cfg.qat, env, loss_fn=loss_fn, tag="qat")
    if not env.is_main:  # other ranks only trained; rank 0 exports and writes
        return None, {}
    prepared = freeze_qat(prepared.cpu()) if backend.name == "torch.ao" else prepared.cpu().eval()
    facts = export_onnx(prepared, out, example, exporter="torchscript", constant_folding=False, simplify=True,
                        deploy=False)  # converted before fake quantization
    if deployed is not None:
        facts["deploy_form"] = deployed
    facts["max_abs_diff_vs_fake_quant"] = _onnx_vs_torch(out, prepared, example)
    extra: dict[str, Any] = {"scheme": scheme, "scheme_reason": why, "qat": history, "export": facts,
                             "teacher": teacher_name, "calibration": calibration, "kept_float": [],
                             "quantizer": backend.record()}
    if scheme == "tensorrt":
        from toolkit.quantize.placement import log_placement
        from toolkit.quantize.residual_qdq import share_residual_qdq

        rewired = share_residual_qdq(out)
        extra["residual_adds_quantized"] = rewired
        if rewired:  # the skip input now carries the quantization error the Conv branch's input already had
            facts["max_abs_diff_after_residual_qdq"] = _onnx_vs_torch(out, prepared, example)
            env.log.info(f"{len(rewired)} residual Add(s) read their skip input through its existing Q/DQ "
                         f"(TensorRT fuses Conv+Add); not trained with it: max |onnx - fake-quant torch| "
                         f"{facts['max_abs_diff_after_residual_qdq']:.2e} after")
        extra["placement"] = log_placement(out, [], env.log)
    extra["qdq"] = qdq_summary(out)
    final = facts.get("max_abs_diff_after_residual_qdq", facts["max_abs_diff_vs_fake_quant"])
    env.log.info(f"QAT int8 exported ({scheme}, {backend.name}); max |onnx - fake-quant torch| of the saved file "
                 f"{final:.2e}")
    return ModelArtifact(ONNX_INT8, out), extra
