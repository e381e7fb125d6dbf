"""QAT inside the quantize stage: fake-quant training (with distillation when there is a teacher), Q/DQ export."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.artifacts import ONNX_INT8, ModelArtifact
from toolkit.distill.kd import kd_loss
from toolkit.distill.teacher import teacher_logits_fn
from toolkit.export.onnx import export_onnx
from toolkit.quantize.ptq import qdq_summary
from toolkit.quantize.qat import freeze_qat, prepare_qat
from toolkit.runtimes import get_runtime
from toolkit.site import StageSite
from toolkit.train.loop import fit


def run_qat(model: nn.Module, cfg, ctx: StageSite, scheme: str, why: str, teacher: nn.Module | None = None,
            teacher_name: str | int | None = None) -> tuple[ModelArtifact | None, dict[str, Any]]:
    """Fine-tune with fake quantization, export Q/DQ ONNX, check it against the fake-quant torch model.

    `teacher`: distil from this model (soft targets at cfg.qat.temperature, weight cfg.qat.alpha) when given.
    Returns the INT8 Q/DQ model file and the stage's `extra` facts; (None, {}) on ranks other than 0."""
    example = ctx.example_input(2)
    prepared = prepare_qat(model, scheme, example)
    loss_fn = None
    if teacher is not None:
        teacher, logits = teacher_logits_fn(teacher, ctx.device, True)
        qat = cfg.qat

        def loss_fn(student, images, labels, index=None):
            z_s = student(images)
            return kd_loss(z_s, logits(images), labels, qat.temperature, qat.alpha, qat.label_smoothing), z_s

    history = fit(prepared, cfg.qat, ctx, loss_fn=loss_fn, tag="qat")
    if not ctx.is_main:  # other ranks only trained; rank 0 exports and writes
        return None, {}
    prepared = freeze_qat(prepared.cpu())
    out = ctx.stage_dir / "model.int8.onnx"
    facts = export_onnx(prepared, out, example, exporter="torchscript", constant_folding=False, simplify=True)
    session = get_runtime("onnxruntime-cpu").load(ModelArtifact("onnx", out))
    with torch.inference_mode():
        reference = prepared(example).numpy()
    facts["max_abs_diff_vs_fake_quant"] = float(np.abs(session.predict(example.numpy()) - reference).max())
    extra: dict[str, Any] = {"scheme": scheme, "scheme_reason": why, "qat": history, "export": facts,
                             "teacher": teacher_name,
                             "qdq": qdq_summary(out), "kept_float": [],
                             "quantizer": {"backend": "torch.ao", "package": "torch", "version": torch.__version__,
                                           "why": "QAT: torch.ao fake-quant (FX), exported as Q/DQ"}}
    if scheme == "tensorrt":
        from toolkit.quantize.placement import log_placement

        extra["placement"] = log_placement(out, [], ctx.log)
    ctx.log.info(f"QAT int8 exported ({scheme}); max |onnx - fake-quant torch| "
                 f"{facts['max_abs_diff_vs_fake_quant']:.2e}")
    return ModelArtifact(ONNX_INT8, out), extra
