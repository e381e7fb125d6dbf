"""Stochastic weight averaging (train.swa_epochs): the schedule holds swa_lr over the averaging epochs, the
stage's model is the equal average of the weights after those epochs with recomputed BatchNorm statistics, a
resumed run keeps the average, and the options refuse what cannot work."""

from __future__ import annotations

import logging

import pytest
import torch
from pydantic import ValidationError
from lr_trace import lr_trace  # tests/helpers is on sys.path
from torch import nn

from toolkit.config import DataSpec
from toolkit.data import build_data
from toolkit.quantize.config import Qat
from toolkit.site import TrainingEnv
from toolkit.train import loop
from toolkit.train.options import TrainingOptions


def _env(tmp_path, epoch_end=None) -> TrainingEnv:
    data = build_data(DataSpec(dataset="synthetic", image_size=8, num_samples=96, num_classes=3, batch_size=32), 0)
    return TrainingEnv(data=data, device=torch.device("cpu"), log=logging.getLogger("test-swa"),
                       checkpoint_dir=tmp_path, seed=0, epoch_end=epoch_end)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3))


def test_the_schedule_anneals_to_swa_lr_and_holds_it_over_the_averaging_epochs():
    rates = lr_trace(TrainingOptions(epochs=5, lr=0.1, swa_epochs=2, swa_lr=0.02), steps_per_epoch=10)
    assert rates[0] == pytest.approx(0.1)
    assert all(0.02 < r < 0.1 for r in rates[1:29])  # cosine from 0.1 towards 0.02, not towards 0
    assert rates[29] == pytest.approx(0.02, abs=1e-3)
    assert rates[30:] == pytest.approx([0.02] * 20)
    assert TrainingOptions(epochs=4, lr=0.1, swa_epochs=1).swa_learning_rate() == pytest.approx(0.05)


def test_the_stage_model_is_the_average_of_the_last_epochs_with_recomputed_batchnorm(tmp_path):
    snapshots = []
    model = _model()
    env = _env(tmp_path, epoch_end=lambda **_: snapshots.append(
        {k: v.detach().clone() for k, v in model.state_dict().items()}))
    result = loop.fit(model, TrainingOptions(epochs=4, lr=0.05, swa_epochs=3, swa_lr=0.05), env)
    last = snapshots[-1]
    for name in ("0.weight", "1.weight", "5.bias"):
        expected = torch.stack([s[name] for s in snapshots[1:]]).mean(0)
        assert torch.allclose(model.state_dict()[name], expected, atol=1e-6)
        assert not torch.allclose(model.state_dict()[name], last[name])
    assert not torch.allclose(model.state_dict()["1.running_mean"], last["1.running_mean"])
    swa = result["swa"]
    assert swa["snapshots_averaged"] == 3 and swa["swa_lr"] == 0.05
    assert 0.0 <= swa["val_top1_averaged"] <= 1.0 and result["final_val_top1"] == swa["val_top1_averaged"]
    assert result["history"][-1]["swa_val_top1"] == swa["val_top1_averaged"]


def test_a_resumed_run_keeps_the_average_of_the_epochs_before_the_stop(tmp_path):
    opts = TrainingOptions(epochs=4, lr=0.05, swa_epochs=3)
    whole = _model()
    loop.fit(whole, opts, _env(tmp_path / "whole"))

    def stop(**info):
        if info["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.fit(_model(), opts, _env(tmp_path / "cut", epoch_end=stop))
    resumed = _model()
    result = loop.fit(resumed, opts, _env(tmp_path / "cut"))
    assert result["resumed_from_epoch"] == 3 and result["swa"]["snapshots_averaged"] == 3
    for name, value in whole.state_dict().items():
        assert torch.allclose(resumed.state_dict()[name].float(), value.float(), atol=1e-5), name


@pytest.mark.parametrize("options, message", [
    ({"epochs": 3, "swa_epochs": 4}, "swa_epochs (4) must be <= epochs (3)"),
    ({"epochs": 3, "swa_epochs": 1, "schedule": "onecycle"}, "needs schedule cosine or constant"),
    ({"epochs": 3, "swa_lr": 0.01}, "take effect only with swa_epochs > 0"),
    ({"epochs": 3, "swa_cycle_epochs": 1}, "take effect only with swa_epochs > 0"),
])
def test_swa_options_that_cannot_work_are_refused(options, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainingOptions(**options)


def test_qat_refuses_weight_averaging():
    with pytest.raises(ValidationError, match="not supported in QAT"):
        Qat(epochs=2, swa_epochs=1)


def test_cyclical_averaging_falls_to_a_hundredth_of_swa_lr_per_cycle_and_averages_at_cycle_ends(tmp_path):
    opts = TrainingOptions(epochs=4, lr=0.1, swa_epochs=4, swa_cycle_epochs=2, swa_lr=0.1)
    rates = lr_trace(opts, steps_per_epoch=5)
    assert rates[9] == pytest.approx(0.001) and rates[19] == pytest.approx(0.001)  # each cycle's last step
    assert rates[10] > rates[9] * 50 and all(a > b for a, b in zip(rates[10:19], rates[11:20]))
    snapshots = []
    model = _model()
    env = _env(tmp_path, epoch_end=lambda **_: snapshots.append(model.state_dict()["0.weight"].clone()))
    result = loop.fit(model, opts, env)
    assert result["swa"]["snapshots_averaged"] == 2
    assert torch.allclose(model.state_dict()["0.weight"], (snapshots[1] + snapshots[3]) / 2, atol=1e-6)
    with pytest.raises(ValidationError, match="multiple of swa_cycle_epochs"):
        TrainingOptions(epochs=5, swa_epochs=5, swa_cycle_epochs=2)


def test_prune_fine_tuning_checks_averaging_against_finetune_epochs():
    from toolkit.prune.config import Prune

    ok = Prune(target={"ratio": 0.3}, finetune_epochs=4, finetune={"swa_epochs": 2, "lr": 0.01})
    assert ok.finetune.swa_epochs == 2
    with pytest.raises(ValidationError, match=r"finetune.swa_epochs \(3\) must be <= finetune_epochs \(2\)"):
        Prune(target={"ratio": 0.3}, finetune_epochs=2, finetune={"epochs": 4, "swa_epochs": 3})
    with pytest.raises(ValidationError, match=r"finetune.swa_epochs \(2\) must be <= finetune_epochs \(1\)"):
        Prune(target={"ratio": 0.3}, finetune_epochs=1, finetune={"swa_epochs": 2})


def test_an_average_that_scores_lower_than_the_last_weights_is_kept_with_a_warning(tmp_path, monkeypatch, caplog):
    from toolkit.train import swa

    real_apply = swa.WeightAverage.apply

    def lower(self, model, data, device, seed, last_val):
        return {**real_apply(self, model, data, device, seed, last_val), "val_top1_last_weights": 1.0,
                "val_top1_averaged": 0.5}

    monkeypatch.setattr(swa.WeightAverage, "apply", lower)
    with caplog.at_level(logging.INFO, logger="test-swa"):
        result = loop.fit(_model(), TrainingOptions(epochs=2, lr=0.05, swa_epochs=1), _env(tmp_path))
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "scores lower" in r.getMessage()]
    assert len(warned) == 1 and "1.0000 -> 0.5000" in warned[0].getMessage()
    assert result["final_val_top1"] == 0.5 and result["batchnorm"] is None  # no second BatchNorm pass


def test_the_epoch_log_shows_only_the_scores_measured_that_epoch(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="test-swa"):
        loop.fit(_model(), TrainingOptions(epochs=6, lr=0.05, eval_every=2, swa_epochs=4, swa_lr=0.05),
                 _env(tmp_path))
    lines = [r.getMessage() for r in caplog.records if " epoch " in r.getMessage()]
    assert len(lines) == 6
    assert "val top-1" not in lines[0] and "nan" not in lines[0]  # epoch 1 is not evaluated
    assert "val top-1" in lines[1] and "weight average" not in lines[1]  # before averaging starts
    assert "val top-1" in lines[3] and "(weight average 0." in lines[3]  # the average so far, scored
