"""The export stage: the model as ONNX (dynamic batch, checked, shapes inferred), with a parity check."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from toolkit.artifacts import ModelArtifact
from toolkit.context import StageContext, StageResult
from toolkit.registry import ONNX, TORCH, register_stage
from toolkit.config import StageConfig

PARITY_SAMPLES = 512


class Export(StageConfig):
    """Export to ONNX: dynamic batch axis, opset >= 17, onnx.checker, shape inference, parity vs torch."""

    opset: int = Field(17, ge=17, le=23)
    exporter: Literal["auto", "torchscript", "dynamo"] = Field(
        "auto", description="auto: TorchScript exporter, dynamo where it fails")
    simplify: bool = Field(True, description="simplify the graph with onnxslim")


def export_model(model: nn.Module, ctx: StageContext, filename: str, opset: int = 17, exporter: str = "auto",
                 simplify: bool = True) -> tuple[ModelArtifact, dict]:
    """Export into the stage folder and compare ONNX Runtime's logits with torch's on validation images."""
    from toolkit.measure import ensure_onnx

    artifact, facts = ensure_onnx(model, ctx.stage_dir, ctx.data, ctx.log, filename=filename, opset=opset,
                                  exporter=exporter, simplify=simplify, samples=PARITY_SAMPLES)
    parity_keys = ("max_abs_diff", "logits_scale", "rel_diff", "rel_tol", "top1_agreement", "changed_predictions",
                   "samples", "ok")
    facts["parity"] = {k: facts.pop(k) for k in parity_keys}
    ctx.log.info(f"exported {filename} ({facts['exporter']}, opset {facts['opset']}): max |onnx - torch| "
                 f"{facts['parity']['max_abs_diff']:.2e} ({facts['parity']['rel_diff']:.1e} of the logits' scale), "
                 f"top-1 agreement {facts['parity']['top1_agreement']:.4f}")
    return artifact, facts


@register_stage("export", Export, needs=(TORCH,), makes=ONNX)
def export(model: nn.Module, cfg: Export, ctx: StageContext) -> StageResult:
    """Export the model to ONNX and check it against torch on real validation images."""
    artifact, facts = export_model(model, ctx, "model.onnx", cfg.opset, cfg.exporter, cfg.simplify)
    return StageResult(artifact, facts)
