"""Training pieces: no decay on norms/biases, the schedule, determinism on CPU."""

from __future__ import annotations

import pytest
from lr_trace import lr_trace  # tests/helpers is on sys.path
from pydantic import ValidationError
from torch import nn

from toolkit.train.optim import param_groups
from toolkit.train.options import TrainingOptions


def test_weight_decay_skips_norms_and_biases():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    decay, no_decay = param_groups([model], 0.1)
    assert {p.ndim for p in decay["params"]} == {4, 2}
    assert all(p.ndim == 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0


def test_cosine_schedule_warms_up_then_decays_to_zero():
    lrs = lr_trace(TrainingOptions(epochs=4, lr=1.0, warmup_epochs=1), steps_per_epoch=10)
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0)
    assert lrs[-1] < 0.01


def test_warmup_must_be_shorter_than_training():
    with pytest.raises(ValidationError):
        TrainingOptions(epochs=2, warmup_epochs=2)


def test_sync_batchnorm_is_reverted_so_models_rebuild_from_code():
    import torch

    from toolkit.distributed import revert_sync_batchnorm
    from toolkit.models import build_model
    from toolkit.models.io import describe_structure
    from toolkit.config import ModelSpec

    model = build_model(ModelSpec(arch="resnet20", kwargs={"width": 4}), 10)
    before = describe_structure(model)
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
    weight = synced.layer1[0].bn1.weight
    reverted = revert_sync_batchnorm(synced)
    assert describe_structure(reverted) == before
    assert reverted.layer1[0].bn1.weight is weight
