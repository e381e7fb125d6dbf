"""The export stage: the model as ONNX (dynamic batch, checked, shapes inferred), with a parity check."""

from __future__ import annotations

from torch import nn

from toolkit.context import StageContext, StageResult
from toolkit.convert.checked import export_model
from toolkit.export.config import Export


def export(model: nn.Module, cfg: Export, ctx: StageContext) -> StageResult:
    """Export the model to ONNX and check it against torch on real validation images."""
    artifact, facts = export_model(model, ctx.stage_dir, ctx.data, ctx.log, "model.onnx", cfg.opset, cfg.exporter,
                                   cfg.simplify)
    return StageResult(artifact, facts)
