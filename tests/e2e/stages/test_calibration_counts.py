"""Calibration works for any sample count and batch size; the count used is logged, recorded, and a clamp said."""

from __future__ import annotations

import pytest
import torch

from toolkit.run.pipeline import run_recipe
from toolkit.quantize.ptq import even_batches
from toolkit.recipe import parse_recipe


def _quantize_only(tiny, tmp_path, calibration):
    # trained first: calibration of a model that classifies (an untrained input would stay at chance)
    raw = tiny(stages=[{"train": {"epochs": 2, "lr": 0.05}},
                       {"quantize": {"cache_dir": str(tmp_path / "calib"), "calibration": calibration}}])
    raw["measure"]["runtimes"] = ["onnxruntime-cpu"]
    return run_recipe(parse_recipe(raw)).stages[-1]


@pytest.mark.parametrize("method", ["entropy", "percentile", "minmax"])
def test_histogram_methods_calibrate_with_a_short_last_batch(tiny, tmp_path, method):
    # 100 images in batches of 32 used to end in ORT's "inhomogeneous shape" error for entropy/percentile.
    stage = _quantize_only(tiny, tmp_path, {"samples": 100, "batch_size": 32, "method": method})
    calib = stage.metrics["extra"]["calibration"]
    assert stage.status == "ok" and calib["samples_used"] == 100 and not calib["clamped_to_train_split"]
    if method == "minmax":
        assert calib["batch_sizes_used"] == [4, 32] and calib["batches"] == 4
    else:
        assert calib["batch_sizes_used"] == [25] and calib["batches"] == 4  # 25 is the largest divisor <= 32
    assert "calibration: 100 train images" in (stage.directory / "log.txt").read_text()
    (timed,) = stage.metrics["extra"]["int8_vs_fp32"]["records"]  # INT8 timed against fp32 (issue 18, item 6)
    assert timed["runtime"] == "onnxruntime-cpu" and timed["fp32_p50_ms"] > 0 and timed["int8_p50_ms"] > 0
    # flagged only when INT8's interval lies wholly above fp32's (both timed in interleaved rounds)
    assert timed["int8_slower"] == (timed["int8_interval_ms"][0] > timed["fp32_interval_ms"][1])
    assert timed["int8_slower"] == (timed["decided"] == "int8 slower")


def test_more_samples_than_the_train_split_is_clamped_out_loud(tiny, tmp_path):
    stage = _quantize_only(tiny, tmp_path, {"samples": 512, "method": "entropy"})  # docs/stages.md's line
    calib = stage.metrics["extra"]["calibration"]
    assert calib["train_split_size"] == 128 and calib["samples_used"] == 128 and calib["clamped_to_train_split"]
    assert calib["samples_requested"] == 512
    assert "512 samples asked but the train split has only 128" in (stage.directory / "log.txt").read_text()


def test_even_batches_keeps_every_image_in_equal_batches():
    images = [torch.randn(32, 3, 4, 4), torch.randn(32, 3, 4, 4), torch.randn(33, 3, 4, 4)]  # 97: prime
    out = even_batches(images, 32)
    assert {b.shape[0] for b in out} == {1} and len(out) == 97
    assert torch.equal(torch.cat(out), torch.cat(images))
    assert [b.shape[0] for b in even_batches([torch.randn(60, 1)], 32)] == [30, 30]
