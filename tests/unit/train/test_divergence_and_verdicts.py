"""Numbers you can trust: divergence stops training, degraded verdicts, gradual lr scaling, parity, calibration."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from toolkit.context import StageContext, StageLog
from toolkit.data import build_data
from toolkit.recipe import parse_recipe
from toolkit.train.divergence import DivergenceError
from toolkit.train.loop import fit
from toolkit.train.optim import make_optimizer, make_scheduler
from toolkit.train.options import TrainingOptions
from toolkit.run.verdict import StageJudge, chance_top1


def _context(tmp_path: Path, tiny) -> StageContext:
    recipe = parse_recipe(tiny())
    data = build_data(recipe.data, recipe.seed)
    stage_dir = tmp_path / ".01-train.partial"
    stage_dir.mkdir()
    return StageContext(measure=recipe.measure, stage_type="train", data=data, device=torch.device("cpu"), seed=0,
                        index=1, name="train",
                        stage_dir=stage_dir, run_dir=tmp_path, log=StageLog(None, None, ""), model_spec={},
                        earlier=[])


def test_a_loss_that_turns_nan_stops_training_naming_epoch_step_and_lr_and_keeps_the_last_finite_checkpoint(
        tmp_path, tiny):
    ctx = _context(tmp_path, tiny)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    steps = ctx.data.train_steps(None)
    calls = {"n": 0}
    criterion = nn.CrossEntropyLoss()

    def planted(m, images, labels, index=None):  # finite for one epoch, NaN from the 2nd step of epoch 2 on
        calls["n"] += 1
        logits = m(images)
        loss = criterion(logits, labels)
        return (loss * float("nan") if calls["n"] > steps + 1 else loss), logits

    with pytest.raises(DivergenceError) as err:
        fit(model, TrainingOptions(epochs=3, lr=0.05), ctx.training_env(), loss_fn=planted, tag="train")
    message = str(err.value)
    assert "stage 01-train diverged" in message and "epoch 2" in message and "step 2" in message
    assert "learning rate" in message and "grad_clip" in message and "warmup_epochs" in message
    assert "stages[0].train" in message and "after epoch 1" in message
    state = torch.load(ctx.stage_dir / "train.ckpt", weights_only=True)
    assert state["epoch"] == 1 and all(torch.isfinite(t).all() for t in state["model"].values())


def test_several_processes_raise_the_lr_gradually_never_in_one_jump():
    model = nn.Linear(2, 2)
    opts = TrainingOptions(epochs=12, lr=0.05, warmup_epochs=1)
    opt = make_optimizer([model], opts)
    sched = make_scheduler(opt, opts, steps_per_epoch=10, lr_scale=2.0)
    lrs = []
    for _ in range(120):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.005)  # the recipe's warm-up start, not 2x it
    assert max(lrs) <= 0.1 + 1e-9 and max(lrs) > 0.09  # the linear rule's peak is reached, after a ramp
    assert max(b / a for a, b in zip(lrs[10:40], lrs[11:41])) < 1.05  # no step of more than 5% while ramping
    assert lrs.index(max(lrs)) >= 25  # the ramp lasts a quarter of the 12 epochs


class _Stage:
    def __init__(self, kind: str, trains: bool, name: str):
        self.stage_type, self._trains, self.name = kind, trains, name

    def trains(self) -> bool:
        return self._trains


class _Recipe:
    def __init__(self, stages, max_stage_drop=10.0):
        self.stages = stages
        self.measure = type("M", (), {"max_stage_drop": max_stage_drop})()


def test_a_stage_at_chance_or_far_below_its_input_is_degraded_but_a_drop_that_training_recovers_is_not():
    recipe = _Recipe([_Stage("train", True, "train"), _Stage("prune", False, "prune"),
                      _Stage("distill", True, "distill"), _Stage("prune", False, "prune2"),
                      _Stage("quantize", False, "quantize")])
    judge = StageJudge(recipe)
    assert judge.verdict(1, "01-train", 0.97, 10, 360)["status"] == "ok"
    prune = judge.verdict(2, "02-prune", 0.40, 10, 360)  # before distill recovers it: deferred
    assert prune["status"] == "ok" and prune["deferred_to"] == "03-distill"
    distill = judge.verdict(3, "03-distill", 0.85, 10, 360)  # judged against the train stage, not the prune
    assert distill["status"] == "degraded" and distill["reference_stage"] == "01-train"
    assert "12.00 points below 01-train" in distill["reason"]
    zeroed = judge.verdict(4, "04-prune2", 0.11, 10, 360)  # nothing trains after it: judged now
    assert zeroed["status"] == "degraded" and "chance level" in zeroed["reason"]
    assert chance_top1(10, 360) == pytest.approx(0.1 + 3 * (0.09 / 360) ** 0.5)


def test_a_stage_at_chance_whose_input_was_already_at_chance_is_ok_but_a_first_train_at_chance_is_not():
    judge = StageJudge(_Recipe([_Stage("export", False, "export")]))  # export-only of an untrained model
    assert judge.verdict(0, "00-input", 0.10, 10, 360)["status"] == "ok"
    export = judge.verdict(1, "01-export", 0.10, 10, 360)
    assert export["status"] == "ok" and export["reason"] is None and export["input_at_chance"]
    judge = StageJudge(_Recipe([_Stage("train", True, "train"), _Stage("quantize", False, "q")]))
    train = judge.verdict(1, "01-train", 0.10, 10, 360)  # no input to compare with: chance is its verdict
    assert train["status"] == "degraded" and "chance level" in train["reason"]
    assert judge.verdict(2, "02-q", 0.10, 10, 360)["status"] == "ok"  # the train stage already said it


def test_max_stage_drop_null_keeps_only_the_chance_check():
    judge = StageJudge(_Recipe([_Stage("train", True, "train"), _Stage("quantize", False, "q")], None))
    judge.verdict(1, "01-train", 0.97, 10, 360)
    assert judge.verdict(2, "02-q", 0.50, 10, 360)["status"] == "ok"


def test_parity_ignores_float_noise_on_huge_logits_and_warns_only_when_predictions_change():
    from toolkit.convert.onnx import parity, parity_warning

    torch.manual_seed(0)
    model = nn.Linear(8, 5)
    with torch.no_grad():
        model.weight.mul_(3000.0)  # logits in the thousands, like a deep untrained net's
    batches = [(torch.randn(64, 8), None)]

    def noisy(x):
        with torch.no_grad():
            ref = model(torch.as_tensor(x)).numpy()
        return ref + np.float32(2.0)  # ~1e-4 of the scale: an absolute 1e-3 test would cry wolf

    facts = parity(model, noisy, batches)
    assert facts["max_abs_diff"] > 1.0 and facts["rel_diff"] < 1e-3
    assert facts["ok"] and parity_warning(facts) is None

    def flipped(x):
        out = noisy(x)
        out[0] = np.roll(out[0], 1)  # one image's prediction changes
        return out

    facts = parity(model, flipped, batches)
    assert not facts["ok"] and facts["changed_predictions"] >= 1
    assert "changes the top-1 prediction of" in parity_warning(facts)


def _onnx(tmp_path: Path, model: nn.Module) -> Path:
    from toolkit.convert.onnx import export_onnx

    path = tmp_path / "m.onnx"
    export_onnx(model, path, torch.rand(1, 3, 8, 8))
    return path


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_calibration_refuses_a_nan_weight_and_warns_about_a_constant_activation_naming_the_tensor(tmp_path):
    from toolkit.quantize.calib_check import CalibrationError, check_calibration

    batches = [torch.rand(4, 3, 8, 8)]
    assert check_calibration(_onnx(tmp_path, _net()), batches) == []  # a healthy model passes silently
    nan = _net()
    with torch.no_grad():
        nan[0].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(CalibrationError, match=r"weight tensor\(s\) .*weight.* NaN"):
        check_calibration(_onnx(tmp_path, nan), batches)
    dead = _net()
    with torch.no_grad():
        dead[0].weight.zero_()
        dead[0].bias.fill_(-1.0)  # every ReLU output is 0 for every image
    warnings = check_calibration(_onnx(tmp_path, dead), batches)
    assert warnings and all(re.search(r"activation '.*' \(output of \w+ node .*\) is constant", w) for w in warnings)


class _DeadBranch(nn.Module):
    """relu(conv_a(x)) + relu(dead(x)): the dead branch is 0 for every image (ONNX Runtime quantizes it fine)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv_a, self.dead = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3)
        with torch.no_grad():
            self.dead.weight.zero_()
            self.dead.bias.fill_(-1.0)
        self.head = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.head(torch.flatten(torch.relu(self.conv_a(x)) + torch.relu(self.dead(x)), 1))


def test_a_constant_dead_branch_is_quantized_by_onnx_runtime_with_a_warning_not_refused(tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    from toolkit.quantize.calib_check import check_calibration

    batches = [torch.rand(4, 3, 8, 8)]
    path = _onnx(tmp_path, _DeadBranch())
    warnings = check_calibration(path, batches)
    assert len(warnings) >= 1 and any("is constant (0)" in w for w in warnings)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"input": b.numpy()} for b in batches])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(path), str(tmp_path / "q.onnx"), Reader(), activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)  # the claim behind the warning: ORT calibrates it
    assert (tmp_path / "q.onnx").stat().st_size > 0


def test_a_worker_stays_silent_about_errors_that_echo_another_ranks(monkeypatch):
    from toolkit.errors import ToolkitError
    from toolkit.run.launch import secondary_failure

    lost = ToolkitError("stage train failed: RuntimeError: [gloo/pair.cc:534] Connection closed by peer")
    own = ToolkitError("stage boom failed: RuntimeError: rank 1 fails on purpose")
    assert not secondary_failure(lost)  # a single process always speaks
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert secondary_failure(lost) and not secondary_failure(own)
    assert secondary_failure(DivergenceError("diverged"))  # every rank raises it; rank 0 reports
    monkeypatch.setenv("RANK", "0")
    assert not secondary_failure(DivergenceError("diverged"))


def test_a_nan_checkpoint_is_blamed_on_its_file_without_training_advice_and_a_stages_output_on_that_stage():
    from types import SimpleNamespace

    from toolkit.finite import NonFiniteModelError, check_input_finite, input_model_source

    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    source = input_model_source(SimpleNamespace(checkpoint=Path("/data/model.pt"), weights=None))
    with pytest.raises(NonFiniteModelError) as err:
        check_input_finite(model, None, "input", source)
    message = str(err.value)
    assert "the checkpoint /data/model.pt (model.checkpoint)" in message and "weight" in message
    assert "stage input" not in message and "made by" not in message and "lr" not in message
    with pytest.raises(NonFiniteModelError, match=r"made by stage 02-train.*lower its lr"):
        check_input_finite(model, "02-train", "quantize")
