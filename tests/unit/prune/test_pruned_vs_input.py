"""A pruned model measured slower than its input is flagged like INT8 slower than fp32 (issue 33, item 2): from the
latency search's own timings, with its interval, in the stage's `extra` and as a warning."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from noisy_runtime import noisy_runtime
from torch import nn

from toolkit.config import MeasureSpec
from toolkit.context import StageContext, StageLog
from toolkit.data import build_data
from toolkit.prune import latency_probe
from toolkit.prune.config import Prune
from toolkit.prune.speed_flags import pruned_slower, pruned_vs_input
from toolkit.prune.stage import prune
from toolkit.recipe import parse_recipe

NAME = "slower-when-pruned"


def slower_when_pruned():
    """Times itself: the fewer parameters, the slower (a runtime whose kernels dislike the pruned widths)."""
    return noisy_runtime(NAME, sigma=0.01, cost_ms=lambda model: 1e4 / sum(p.numel() for p in model.parameters()))


def _context(tmp_path: Path, tiny) -> StageContext:
    recipe = parse_recipe(tiny())
    stage_dir = tmp_path / ".02-prune.partial"
    stage_dir.mkdir()
    return StageContext(measure=recipe.measure, stage_type="prune", data=build_data(recipe.data, recipe.seed),
                        device=torch.device("cpu"), seed=0, index=2, name="prune", stage_dir=stage_dir,
                        run_dir=tmp_path, log=StageLog(stage_dir / "log.txt", None, ""), model_spec={}, earlier=[])


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 32, 3),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4))


def test_a_pruned_model_measured_slower_than_its_input_is_flagged_with_its_interval(tmp_path, tiny, monkeypatch):
    ctx = _context(tmp_path, tiny)
    fast = MeasureSpec(warmup_s=0.0, min_iters=10, min_time_s=0.0)  # the fake times itself: no wall-clock budget
    monkeypatch.setattr(latency_probe, "ProbeTimer", functools.partial(latency_probe.ProbeTimer, timing=fast))
    with slower_when_pruned():
        cfg = Prune.model_validate({"target": {"latency_speedup": 1.5, "runtime": NAME}, "round_to": None})
        extra = prune(_net(), cfg, ctx).metrics
    check = extra["pruned_vs_input"]
    (record,) = check["records"]
    assert record["runtime"] == NAME and record["batch_size"] == 1 and record["pruned_slower"]
    assert record["decided"] == "pruned slower" and record["speedup_interval"][1] < 1.0
    assert record["pruned_p50_ms"] > record["input_p50_ms"]
    assert check["slower_on"] == [f"{NAME}@1"] and pruned_slower(extra) == {(NAME, 1)}
    log = (ctx.stage_dir / "log.txt").read_text()
    assert "WARNING: the pruned model is slower than its input on slower-when-pruned at batch 1" in log


def test_only_a_latency_search_is_read_and_an_overlap_is_within_noise():
    assert pruned_vs_input([{"ratio": 0.3, "goal": 2.0}]) is None  # a MACs target measures nothing here
    step = {"runtime": "onnxruntime-cpu", "batch_size": 4,
            "chosen": {"latency_ms": 1.0, "base_ms": 1.02, "speedup": 1.02, "speedup_ci": [0.95, 1.08],
                       "unstable": False}}
    (record,) = pruned_vs_input([step])["records"]
    assert record["decided"] == "within noise" and not record["pruned_slower"]
    assert pruned_slower({"pruned_vs_input": pruned_vs_input([step])}) == set() and pruned_slower(None) == set()
