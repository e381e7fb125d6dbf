"""The export stage's options (no torch: recipes validate without it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toolkit.config import StageConfig


class Export(StageConfig):
    """Export to ONNX: dynamic batch axis, opset >= 17, onnx.checker, shape inference, parity vs torch."""

    opset: int = Field(17, ge=17, le=23)
    exporter: Literal["auto", "torchscript", "dynamo"] = Field(
        "auto", description="auto: TorchScript exporter, dynamo where it fails")
    simplify: bool = Field(True, description="simplify the graph with onnxslim")
