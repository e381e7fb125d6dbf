"""The engine stage's options (no torch: recipes validate without it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from toolkit.artifacts import ONNX_INT8
from toolkit.config import StageConfig, StageFacts


class EngineFacts(StageFacts):
    """What the engine stage takes from the recipe: the batch sizes its optimisation profile covers."""

    batch_sizes: list[int]


class Engine(StageConfig):
    """Build a TensorRT engine (int8 from the Q/DQ model, or fp16/fp32), save model.engine, measure it."""

    precision: Literal["fp32", "fp16", "int8"] = "int8"
    compare: list[Literal["fp32", "fp16", "int8"]] = Field(
        default_factory=lambda: ["fp16"], description="also build these and compare (int8 slower than fp16 is flagged)")
    builder: Literal["api", "trtexec"] = "api"
    calibration: Literal["explicit", "implicit"] = Field(
        "explicit", description="implicit: entropy2 calibrator, TensorRT < 11 only (deprecated)")
    fp16_by: Literal["auto", "onnx", "flag"] = Field(
        "auto", description="auto: fp16 ONNX on TensorRT >= 11, the FP16 flag on 10")
    workspace_mib: int = Field(1024, ge=16, le=1 << 20)
    opt_level: int | None = Field(None, ge=0, le=5, description="builder optimisation level")
    dla_core: int | None = Field(None, ge=0, le=8, description="Jetson DLA core, with GPU fallback")
    batch_sizes: list[int] | None = Field(None, description="profile batch sizes; null: measure.batch_sizes")
    timing_cache: bool = Field(True, description="persist TensorRT's timing cache under cache_dir")
    cache_dir: Path | None = Field(None, description="timing caches (a relative path: from the working directory); "
                                                     "null: <output>/calibration, beside the run folders")

    def resolve(self, recipe) -> EngineFacts | None:
        """The optimisation profile follows measure.batch_sizes unless batch_sizes is set here."""
        if recipe is None:
            return None
        return EngineFacts(batch_sizes=self.batch_sizes or recipe.measure.batch_sizes)

    def check_chain(self, earlier: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """int8 (explicit) needs the Q/DQ model of a quantize stage."""
        formats = [f for _, _, f in earlier]
        if self.precision == "int8" and self.calibration == "explicit" and ONNX_INT8 not in formats:
            return [("precision", "an int8 engine is built from the Q/DQ model of a quantize stage: add quantize "
                                  "before engine, or choose precision fp16/fp32")]
        return []
