"""BatchNorm statistics that lag behind the weights are recomputed after training; wild train/val gaps warn."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from toolkit.data import build_data
from toolkit.data.images import TensorImages
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe
from toolkit.config import DataSpec
from toolkit.train.batchnorm import refresh_batchnorm


@pytest.mark.slow
def test_mobilenet_v3_small_batchnorm_is_recomputed_after_training(tmp_path):
    # torchvision builds mobilenet_v3's BatchNorm with momentum 0.01: after a few epochs the running
    # statistics still describe the initial weights and eval-mode accuracy is at chance.
    raw = {"name": "bn", "seed": 0, "model": {"arch": "mobilenet_v3_small", "kwargs": {"width_mult": 0.25}},
           "data": {"dataset": "digits", "image_size": 32, "batch_size": 32},
           "measure": {"runtimes": ["torch-cpu"], "batch_sizes": [1], "warmup_s": 0, "min_iters": 2,
                       "min_time_s": 0},
           "stages": [{"train": {"epochs": 2, "lr": 0.1}}], "output": str(tmp_path / "runs")}
    metrics = run_recipe(parse_recipe(raw)).stages[-1].metrics
    bn = metrics["extra"]["batchnorm"]
    assert bn["momentum"] == [0.01] and bn["recomputed"] is True
    assert bn["val_top1_before"] < 0.2 and bn["val_top1_after"] > 0.5  # chance is 0.1
    assert metrics["accuracy"]["top1"] == pytest.approx(bn["val_top1_after"])  # the saved model has them
    log = (metrics_dir := tmp_path / "runs" / "bn" / "01-train" / "log.txt").read_text()
    assert "BatchNorm statistics (34 layers, momentum [0.01])" in log and metrics_dir.is_file()


def _trained_tiny(data, steps: int = 60) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, data.num_classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    batches = [b for epoch in range(10) for b in data.train_batches(epoch, 0, augment=False)][:steps]
    model.train()
    for images, labels in batches:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model.eval()


def test_statistics_that_match_are_kept_and_a_wild_train_val_gap_names_the_likely_cause():
    data = build_data(DataSpec(dataset="digits", image_size=8, batch_size=64), 0)
    # val labels shifted by one class: a split mismatch that no BatchNorm repair can fix
    shifted = dataclasses.replace(data, val=TensorImages(data.val.images, (data.val.labels + 1) % 10))
    model = _trained_tiny(data)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    warnings: list[str] = []
    record = refresh_batchnorm(model, shifted, torch.device("cpu"), 0, lambda m: None, warnings.append)
    assert record["train_top1_before"] > 0.6 and record["val_top1_before"] < 0.2
    assert record["train_val_gap"] > 0.4 and len(warnings) == 1
    assert "preprocessing" in warnings[0] and "labels" in warnings[0]
    if not record["recomputed"]:
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_stale_statistics_are_replaced_and_models_without_batchnorm_are_left_alone():
    data = build_data(DataSpec(dataset="digits", image_size=8, batch_size=64), 0)
    model = _trained_tiny(data)
    bn = model[1]
    bn.running_mean.add_(3.0)  # statistics of other weights
    bn.running_var.mul_(20.0)
    record = refresh_batchnorm(model, data, torch.device("cpu"), 0, lambda m: None, lambda m: None)
    assert record["recomputed"] and record["train_top1_after"] > record["train_top1_before"] + 0.2
    assert bn.momentum == 0.1 and not model.training  # update_bn restores momenta; the model stays in eval
    no_bn = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    assert refresh_batchnorm(no_bn, data, torch.device("cpu"), 0, print, print) is None
