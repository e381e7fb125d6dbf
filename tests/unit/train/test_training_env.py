"""The training loop on plain arguments: a TrainingEnv built by hand trains, checkpoints, calls its hook and
names its stage; bf16 autocast on the CPU (amp_cpu) where torch has native bf16 kernels, fp32 and a warning
elsewhere."""

from __future__ import annotations

import contextlib
import logging

import pytest
import torch
from torch import nn

from toolkit.config import DataSpec
from toolkit.data import build_data
from toolkit.site import TrainingEnv
from toolkit.train import loop
from toolkit.train.options import TrainingOptions


def _env(tmp_path, **kw) -> TrainingEnv:
    data = build_data(DataSpec(dataset="synthetic", image_size=8, num_samples=96, num_classes=3, batch_size=32), 0)
    return TrainingEnv(data=data, device=torch.device("cpu"), log=logging.getLogger("test-env"),
                       checkpoint_dir=tmp_path, seed=0, **kw)


def test_fit_runs_on_a_hand_built_training_env_and_calls_its_epoch_hook(tmp_path):
    seen = []
    env = _env(tmp_path, name="prune", label="02-prune", epoch_end=lambda **p: seen.append(p["epoch"]))
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    result = loop.fit(model, TrainingOptions(epochs=2, lr=0.05), env, tag="finetune-1")
    assert seen == [1, 2] and len(result["history"]) == 2
    assert (tmp_path / "finetune-1.ckpt").is_file()  # the checkpoint lands in env.checkpoint_dir
    assert env.rank == 0 and env.world_size == 1 and env.is_main


def test_amp_cpu_autocasts_to_bf16_where_torch_has_native_bf16_kernels(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    warnings = []
    autocast, scaler = loop._amp(torch.device("cpu"), True, True, warnings.append)
    with autocast():
        out = nn.Linear(4, 2)(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16 and scaler is None and warnings == []


def test_amp_cpu_trains_in_fp32_with_a_warning_without_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    warnings = []
    autocast, _ = loop._amp(torch.device("cpu"), True, True, warnings.append)
    assert autocast is contextlib.nullcontext and "no native bf16" in warnings[0]


@pytest.mark.parametrize("amp_cpu", [False, True])
def test_amp_cpu_off_by_default_and_bf16_training_stays_finite(tmp_path, amp_cpu):
    assert TrainingOptions().amp_cpu is False
    env = _env(tmp_path)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    result = loop.fit(model, TrainingOptions(epochs=1, lr=0.05, amp_cpu=amp_cpu), env, tag="train")
    assert result["history"][0]["loss"] == pytest.approx(result["history"][0]["loss"])  # finite, not NaN
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps fp32 master weights


@pytest.mark.parametrize(("channels_last", "expected"), [(True, True), (False, False), (None, False)])
def test_cpu_training_runs_in_channels_last_when_asked_and_hands_back_contiguous_weights(tmp_path, channels_last,
                                                                                          expected):
    layouts = []

    def record_layout(model: nn.Module) -> None:
        layouts.append(model[0].weight.is_contiguous(memory_format=torch.channels_last))

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    loop.fit(model, TrainingOptions(epochs=1, lr=0.05, channels_last=channels_last), _env(tmp_path),
             regularizer=record_layout)
    assert layouts and (all(layouts) if expected else not any(layouts))  # null: NHWC on CUDA only
    # safetensors and ONNX export want the default layout back
    assert all(p.is_contiguous() for p in model.parameters())
