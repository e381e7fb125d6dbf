"""The export stage: the model as ONNX (dynamic batch, checked, shapes inferred), with a parity check."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from toolkit.artifacts import ONNX, TORCH
from toolkit.config import StageConfig
from toolkit.context import StageContext, StageResult
from toolkit.export.checked import export_model
from toolkit.registry import register_stage


class Export(StageConfig):
    """Export to ONNX: dynamic batch axis, opset >= 17, onnx.checker, shape inference, parity vs torch."""

    opset: int = Field(17, ge=17, le=23)
    exporter: Literal["auto", "torchscript", "dynamo"] = Field(
        "auto", description="auto: TorchScript exporter, dynamo where it fails")
    simplify: bool = Field(True, description="simplify the graph with onnxslim")


@register_stage("export", Export, needs=(TORCH,), makes=ONNX)
def export(model: nn.Module, cfg: Export, ctx: StageContext) -> StageResult:
    """Export the model to ONNX and check it against torch on real validation images."""
    artifact, facts = export_model(model, ctx.stage_dir, ctx.data, ctx.log, "model.onnx", cfg.opset, cfg.exporter, cfg.simplify)
    return StageResult(artifact, facts)
