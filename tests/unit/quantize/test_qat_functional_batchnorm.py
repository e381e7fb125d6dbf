"""QAT folds BatchNorm the tracer sees as a function (timm's BatchNormAct2d calls F.batch_norm), so the INT8 file
keeps no float BatchNormalization; where one is left, a slow INT8 is blamed on it, measured, not on the runtime
(issue 33, item 4)."""

from __future__ import annotations

import collections
import copy

import torch
import torch.nn.functional as F
from torch import fx, nn

from toolkit.config import MeasureSpec
from toolkit.convert.onnx import export_onnx
from toolkit.quantize import speed_check
from toolkit.quantize.qat import freeze_qat, prepare_qat
from toolkit.quantize.qat_fold import fold_functional_batchnorm


class BatchNormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d in miniature: a BatchNorm2d subclass whose forward calls F.batch_norm, then its act."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert(x.ndim == 4, "expected 4D input")  # as timm does: a shape read of the conv output
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training, 0.1, self.eps)
        return self.act(x)


def net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), BatchNormAct(8), nn.Conv2d(8, 16, 3, padding=1, bias=False),
                          BatchNormAct(16), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model.eval()


def node_types(path) -> collections.Counter:
    import onnx

    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def test_functional_batchnorm_is_folded_into_its_conv_with_the_same_outputs():
    model, x = net(), torch.randn(2, 3, 16, 16)
    traced = fx.symbolic_trace(copy.deepcopy(model))
    assert fold_functional_batchnorm(traced) == 2
    assert not [n for n in traced.graph.nodes if n.op == "call_function" and n.target is F.batch_norm]
    with torch.no_grad():
        assert (traced(x) - model(x)).abs().max() < 1e-5


def test_the_qat_int8_file_keeps_no_float_batchnorm(tmp_path):
    model, x = net(), torch.randn(2, 3, 16, 16)
    prepared = prepare_qat(model, "cpu", x)
    prepared.train()
    for _ in range(2):  # the observers see activations, as in the QAT loop
        prepared(x)
    export_onnx(freeze_qat(prepared), tmp_path / "int8.onnx", x, exporter="torchscript", constant_folding=False,
                simplify=True, deploy=False)
    counted = node_types(tmp_path / "int8.onnx")
    assert counted["BatchNormalization"] == 0 and counted["QuantizeLinear"] > 0
    assert isinstance(model[1], BatchNormAct)  # the caller's model keeps its norms


class Data:
    def example_input(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, 3, 16, 16)


class Log:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def warning(self, message: str) -> None:
        self.lines.append(f"WARNING: {message}")


def _compare(tmp_path, monkeypatch, model: nn.Module) -> tuple[dict, str]:
    path = tmp_path / "model.onnx"
    export_onnx(model, path, torch.zeros(1, 3, 16, 16))
    # the timer is planted (INT8 twice fp32's time): the message, not the machine, is under test
    monkeypatch.setattr(speed_check, "_samplers", lambda sessions, images: {"fp32": lambda n: [1.0] * n,
                                                                            "int8": lambda n: [2.0] * n})
    spec = MeasureSpec(runtimes=["onnxruntime-cpu"], batch_sizes=[1], warmup_s=0, min_iters=5, min_time_s=0)
    log = Log()
    check = speed_check.compare_int8_fp32(path, path, Data(), spec, log)
    return check, "\n".join(log.lines)


def test_a_slow_int8_with_float_batchnorm_left_names_that_measured_cause(tmp_path, monkeypatch):
    # a norm after the activation: no exporter or fold can merge it into a conv
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 14 * 14, 4))
    check, log = _compare(tmp_path, monkeypatch, model.eval())
    assert check["slower_on"] == ["onnxruntime-cpu@1"] and check["float_in_int8"]["batchnorm"] == 1
    assert "1 float BatchNormalization nodes left in the INT8 graph" in log
    assert "lacks fast int8 kernels" not in log


def test_a_slow_int8_without_float_leftovers_keeps_the_kernel_explanation(tmp_path, monkeypatch):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 4))
    check, log = _compare(tmp_path, monkeypatch, model.eval())
    assert check["float_in_int8"]["causes"] == [] and "lacks fast int8 kernels" in log
