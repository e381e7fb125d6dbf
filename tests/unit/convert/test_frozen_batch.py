"""Export errors name the cause (issue 33, item 6): a batch size the tracer froze into the graph is found at export
and refused with the call to change, not left to ONNX Runtime's "GEMM: Dimension mismatch" later on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from toolkit.context import StageContext, StageLog
from toolkit.convert.batch_check import FrozenBatchError
from toolkit.convert.onnx import export_onnx
from toolkit.data import build_data
from toolkit.errors import UserInputError
from toolkit.export.config import Export
from toolkit.export.stage import export
from toolkit.measure.model import measure_model
from toolkit.recipe import parse_recipe


class Flatten(nn.Module):
    """A small CNN whose flatten is written one of the ways users write it."""

    def __init__(self, how: str, classes: int = 10):
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 4)
        if self.how == "int(size)":
            x = x.view(int(x.size(0)), -1)
        elif self.how == "int(shape)":
            x = x.reshape(int(x.shape[0]), -1)
        elif self.how == "size":
            x = x.view(x.size(0), -1)
        else:
            x = x.flatten(1)
        return self.fc(x)


@pytest.mark.parametrize("how", ["int(size)", "int(shape)"])
def test_a_frozen_batch_is_refused_at_export_with_the_cause_and_the_fix(tmp_path, how):
    with pytest.raises(FrozenBatchError) as err:
        export_onnx(Flatten(how).eval(), tmp_path / "m.onnx", torch.randn(1, 3, 16, 16))
    message = str(err.value)
    assert isinstance(err.value, UserInputError) and "runs only at batch size 1" in message
    assert "int(x.size(0))" in message and "x.flatten(1)" in message and "[1, -1]" in message
    assert not (tmp_path / "m.onnx").exists()  # nothing half-written


@pytest.mark.parametrize("how", ["size", "flatten"])
def test_a_batch_kept_symbolic_exports(tmp_path, how):
    assert export_onnx(Flatten(how).eval(), tmp_path / "m.onnx", torch.randn(1, 3, 16, 16))["nodes"] > 0


def _context(tmp_path: Path, tiny) -> StageContext:
    recipe = parse_recipe(tiny())
    stage_dir = tmp_path / ".02-export.partial"
    stage_dir.mkdir()
    return StageContext(measure=recipe.measure, stage_type="export", data=build_data(recipe.data, recipe.seed),
                        device=torch.device("cpu"), seed=0, index=2, name="export", stage_dir=stage_dir,
                        run_dir=tmp_path, log=StageLog(stage_dir / "log.txt", None, ""), model_spec={}, earlier=[])


def test_the_export_stage_fails_with_the_cause_not_onnx_runtimes_gemm_message(tmp_path, tiny):
    ctx = _context(tmp_path, tiny)
    with pytest.raises(FrozenBatchError, match=r"int\(x.size\(0\)\)"):
        export(Flatten("int(size)", classes=4).eval(), Export(), ctx)


def test_a_stage_measured_on_onnx_records_why_its_export_failed(tmp_path, tiny):
    ctx = _context(tmp_path, tiny)
    spec = ctx.measure.model_copy(update={"runtimes": ["onnxruntime-cpu"], "accuracy": False})
    metrics = measure_model(Flatten("int(size)", classes=4).eval(), data=ctx.data, spec=spec,
                            stage_dir=ctx.stage_dir, device=torch.device("cpu"))
    onnx_info = metrics["model"]["onnx"]
    assert onnx_info["status"] == "failed" and "FrozenBatchError" in onnx_info["reason"]
    assert "x.flatten(1)" in onnx_info["reason"] and "GEMM" in onnx_info["reason"]  # ORT's words only as evidence
    record = metrics["latency"][0]  # not a bare "skipped: this one is torch"
    assert record["status"] == "failed" and record["reason"].startswith("no ONNX file to run: the export failed")
    assert "x.flatten(1)" in record["reason"]
