"""The model measured is the model deployed (issue 33, item 4): a re-parameterizable model is exported in its
deploy form, on a copy, and the record says so."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from toolkit.context import StageContext, StageLog
from toolkit.convert.deploy import deploy_form
from toolkit.convert.onnx import export_onnx
from toolkit.data import build_data
from toolkit.export.config import Export
from toolkit.export.stage import export
from toolkit.recipe import parse_recipe


def _fold(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    std = (bn.running_var + bn.eps).sqrt()
    return kernel * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std


class RepBlock(nn.Module):
    """RepVGG's block: 3x3+BN, 1x1+BN and identity BN in training form; one 3x3 conv after switch_to_deploy()."""

    def __init__(self, c: int):
        super().__init__()
        self.c = c
        self.conv3 = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.conv1 = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.identity = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "fused"):
            return torch.relu(self.fused(x))
        return torch.relu(self.conv3(x) + self.conv1(x) + self.identity(x))

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        k3, b3 = _fold(self.conv3[0].weight, self.conv3[1])
        k1, b1 = _fold(F.pad(self.conv1[0].weight, [1, 1, 1, 1]), self.conv1[1])
        eye = torch.zeros(self.c, self.c, 3, 3)
        eye[range(self.c), range(self.c), 1, 1] = 1
        ki, bi = _fold(eye, self.identity)
        self.fused = nn.Conv2d(self.c, self.c, 3, padding=1)
        self.fused.weight.copy_(k3 + k1 + ki)
        self.fused.bias.copy_(b3 + b1 + bi)
        del self.conv3, self.conv1, self.identity


class MobileOneLike(RepBlock):
    """The same block with MobileOne's method name."""

    def switch_to_deploy(self, strict: bool) -> None:  # needs an argument: not a deploy switch
        raise AssertionError("called")

    def reparameterize(self) -> None:
        RepBlock.switch_to_deploy(self)


class ConvBN(nn.Module):
    """LeViT-style: fuse() returns the module that replaces it; a child named `fuse` is not a method."""

    def __init__(self, c: int):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        weight, bias = _fold(self.conv.weight, self.bn)
        conv = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, 1)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        return conv


class HasFuseChild(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.fuse = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(x)


def _randomise_norms(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def rep_net(block=RepBlock, classes: int = 10) -> nn.Module:
    torch.manual_seed(0)
    return _randomise_norms(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), block(8), nn.AdaptiveAvgPool2d(1),
                                          nn.Flatten(), nn.Linear(8, classes)))


def ops(path: Path) -> collections.Counter:
    import onnx

    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def onnx_out(path: Path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]


def test_a_repvgg_block_is_exported_as_one_conv_matching_its_training_form(tmp_path):
    model, x = rep_net(), torch.randn(4, 3, 16, 16)
    facts = export_onnx(model, tmp_path / "m.onnx", x)
    counted = ops(tmp_path / "m.onnx")
    assert counted["Conv"] == 2 and counted["Add"] == 0 and counted["BatchNormalization"] == 0  # stem + fused
    with torch.no_grad():
        assert np.abs(onnx_out(tmp_path / "m.onnx", x) - model(x).numpy()).max() < 1e-4
    assert facts["deploy_form"]["status"] == "converted"
    assert facts["deploy_form"]["modules"] == [{"module": "1", "type": "RepBlock", "call": "switch_to_deploy()"}]
    assert facts["deploy_form"]["max_abs_diff_vs_training_form"] < 1e-4
    assert hasattr(model[1], "conv3") and not hasattr(model[1], "fused")  # the caller's model is untouched


def test_reparameterize_and_a_fuse_that_returns_a_module_are_used_and_a_child_named_fuse_is_not(tmp_path):
    torch.manual_seed(0)
    model = _randomise_norms(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), MobileOneLike(8), ConvBN(8),
                                           HasFuseChild(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)))
    x = torch.randn(2, 3, 16, 16)
    converted, record = deploy_form(model, x)
    assert [(m["module"], m["call"]) for m in record["modules"]] == [("1", "reparameterize()"), ("2", "fuse()")]
    assert isinstance(converted[2], nn.Conv2d) and isinstance(model[2], ConvBN)
    with torch.no_grad():
        assert (converted(x) - model(x)).abs().max() < 1e-4
    assert deploy_form(nn.Sequential(HasFuseChild(3)))[1] is None  # nothing to convert: no copy, no record


def test_a_conversion_that_fails_is_recorded_and_the_training_form_exported(tmp_path):
    class Broken(RepBlock):
        def switch_to_deploy(self) -> None:
            raise RuntimeError("fused kernel shape mismatch")

    facts = export_onnx(rep_net(Broken), tmp_path / "m.onnx", torch.randn(1, 3, 16, 16))
    record = facts["deploy_form"]
    assert record["status"] == "failed" and "fused kernel shape mismatch" in record["reason"]
    assert ops(tmp_path / "m.onnx")["Add"] == 2  # the training form, as the record says


def test_the_export_stage_records_the_deploy_form_and_logs_it(tmp_path, tiny):
    recipe = parse_recipe(tiny())
    stage_dir = tmp_path / ".02-export.partial"
    stage_dir.mkdir()
    ctx = StageContext(measure=recipe.measure, stage_type="export", data=build_data(recipe.data, recipe.seed),
                       device=torch.device("cpu"), seed=0, index=2, name="export", stage_dir=stage_dir,
                       run_dir=tmp_path, log=StageLog(stage_dir / "log.txt", None, ""), model_spec={}, earlier=[])
    result = export(rep_net(classes=4), Export(), ctx)
    assert result.metrics["deploy_form"]["modules"][0]["call"] == "switch_to_deploy()"
    assert result.metrics["parity"]["ok"] and ops(result.model.path)["Add"] == 0
    assert "exported in deploy form: 1 module(s) re-parameterized" in (stage_dir / "log.txt").read_text()


@pytest.mark.slow
def test_timm_repvgg_is_exported_in_its_deploy_form(tmp_path):
    timm = pytest.importorskip("timm")
    model = timm.create_model("repvgg_a0", num_classes=10).eval()
    facts = export_onnx(model, tmp_path / "m.onnx", torch.randn(1, 3, 64, 64))
    counted = ops(tmp_path / "m.onnx")
    assert counted["Add"] == 0 and counted["Conv"] == 22  # was 44 Conv, 39 Add in the training form
    assert facts["deploy_form"]["by"] == "timm.utils.model.reparameterize_model"
    assert facts["deploy_form"]["rel_diff_vs_training_form"] < 1e-4
