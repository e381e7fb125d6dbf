"""Numbers you can trust, end to end: divergence, degraded stages, NaN weights, two-process convergence."""

from __future__ import annotations

from processes import compress_process as compress

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

PLANTED = '''
import torch
from toolkit import StageConfig, StageResult, register_stage


class ZeroHead(StageConfig):
    """Zeroes the classifier (test): every image gets the same logits."""


@register_stage("zero_head")
def zero_head(model, cfg: ZeroHead, ctx):
    """Planted damage: the last layer's weights and bias become 0."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    return StageResult(model)


class NanWeight(StageConfig):
    """Writes one NaN into the first convolution (test)."""


@register_stage("nan_weight")
def nan_weight(model, cfg: NanWeight, ctx):
    """Planted damage: a NaN weight."""
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        conv.weight[0, 0, 0, 0] = float("nan")
    return StageResult(model)
'''
ROOT = Path(__file__).parents[3]


def _write(tmp_path: Path, raw: dict) -> Path:
    (tmp_path / "planted.py").write_text(PLANTED)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**raw, "plugins": ["planted"], "output": str(tmp_path / "runs")}))
    return path


@pytest.mark.slow
def test_a_diverging_lr_fails_clearly_and_the_fixed_recipe_resumes_from_the_last_good_stage(tmp_path, tiny):
    raw = tiny(model={"arch": "seed_cnn"}, data={"dataset": "synthetic", "image_size": 20, "num_samples": 160,
                                                  "num_classes": 4, "batch_size": 16},
               stages=[{"train": {"epochs": 2, "lr": 0.05}},
                       {"train": {"name": "tune", "epochs": 2, "lr": 10.0, "schedule": "constant",
                                  "momentum": 0.0}}])
    path = _write(tmp_path, raw)
    done = compress(["run", str(path), "--quiet"], tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "stage 02-tune diverged" in out and "epoch 1" in out and "learning rate 10" in out
    assert "grad_clip" in out and "stages[1].train" in out and "Traceback" not in out
    assert "failed" in out  # the stage table read back from the run folder names the failed stage
    run = json.loads((tmp_path / "runs" / "tiny" / "run.json").read_text())
    assert run["status"] == "failed" and "diverged" in run["error"]
    fixed = compress(["run", str(path), "--quiet", "--set", "stages.1.train.lr=0.01"], tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "01-train │ ok (cached)" in fixed.stdout.replace("┃", "│")


@pytest.mark.slow
def test_a_stage_that_zeroes_a_layer_is_degraded_shown_red_never_recommended_and_exits_non_zero(tmp_path, tiny):
    path = _write(tmp_path, tiny(stages=[{"train": {"epochs": 2, "lr": 0.05}}, {"zero_head": {}},
                                         {"zero_head": {"name": "after"}}]))
    done = compress(["run", str(path), "--quiet"], tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "degraded" in done.stdout
    assert "stage 02-zero_head degraded: top-1" in done.stderr and "chance level" in done.stderr
    run_dir = tmp_path / "runs" / "tiny"
    metrics = json.loads((run_dir / "02-zero_head" / "metrics.json").read_text())
    assert metrics["status"] == "degraded" and metrics["verdict"]["reference_stage"] == "01-train"
    assert json.loads((run_dir / "01-train" / "metrics.json").read_text())["status"] == "ok"
    html = (run_dir / "report.html").read_text()
    assert '<span class="degraded">degraded</span>' in html
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    assert "02-zero_head" not in json.dumps(summary.get("recommendations", []))
    shutil.rmtree(run_dir / "03-after")
    strict = compress(["run", str(path), "--quiet", "--strict"], tmp_path)  # stops at the cached degraded stage
    assert strict.returncode == 4 and "--strict" in strict.stderr
    run = json.loads((run_dir / "run.json").read_text())
    # a --strict stop is its own status, and the stage after the degraded one (never run) is not blamed
    assert run["status"] == "stopped" and "failed_stage" not in run
    assert "02-zero_head" in strict.stderr and "after" not in strict.stderr.replace("--strict", "")
    assert not (run_dir / "03-after").exists()
    assert re.search(r"01-train\s*│\s*ok \(cached\)", strict.stderr.replace("┃", "│"))  # cached stages are marked
    from toolkit.report.collect import read_run

    assert [s.status for s in read_run(run_dir).stages] == ["ok", "degraded"]


@pytest.mark.slow
def test_a_nan_weight_handed_to_quantize_is_refused_naming_the_stage_that_made_it(tmp_path, tiny):
    path = _write(tmp_path, tiny(stages=[{"train": {"epochs": 2, "lr": 0.05}}, {"nan_weight": {}},
                                         {"quantize": {}}]))
    done = compress(["run", str(path), "--quiet"], tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "stage quantize cannot start" in out and "made by stage 02-nan_weight" in out and "NaN" in out
    assert "scale issue" not in out and "Traceback" not in out


def _top1(run_dir: Path) -> dict[str, float]:
    run = json.loads((run_dir / "run.json").read_text())
    return {s["name"]: json.loads((run_dir / s["dir"] / "metrics.json").read_text())["accuracy"]["top1"]
            for s in run["stages"] if s["status"] == "ok"}


@pytest.mark.slow
def test_the_quickstart_on_two_processes_ends_within_one_and_a_half_points_of_one_process(tmp_path, quickstart_run):
    # One process: the session's run of the recipe as the user runs it (conftest.quickstart_run; measurement
    # settings do not change what is trained). Two processes: the same recipe, measured briefly.
    recipe = ROOT / "recipes" / "quickstart.yaml"
    fast = ["--quiet", "--set", "measure.runtimes=[onnxruntime-cpu]", "--set", "measure.batch_sizes=[1]",
            "--set", "measure.min_iters=3", "--set", "measure.min_time_s=0", "--set", "measure.warmup_s=0"]
    two = compress(["run", str(recipe), *fast, "--set", "output=two", "--nproc", "2"], tmp_path, timeout=1200)
    assert two.returncode == 0, two.stdout + two.stderr
    # one run folder (rank 1 writes no run of its own; calibration/ beside it holds the quantize stage's cache),
    # complete, with every epoch of the recipe in its history
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["calibration", "quickstart"]
    run_dir = tmp_path / "two" / "quickstart"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    epochs = yaml.safe_load(recipe.read_text())["stages"][0]["train"]["epochs"]
    assert len(json.loads((run_dir / "01-train" / "metrics.json").read_text())["extra"]["history"]) == epochs
    single, double = _top1(quickstart_run / "runs" / "quickstart"), _top1(run_dir)
    print(f"quickstart top-1, 1 process: {single}; 2 processes: {double}")
    for stage in ("train", "distill", "quantize"):
        assert double[stage] > 0.9, (stage, double)
        assert abs(double[stage] - single[stage]) <= 0.015, (stage, single, double)


NAN_ON_ONE_RANK = '''
import torch
from toolkit import StageConfig, StageResult, register_stage
from toolkit.train.loop import fit
from toolkit.train.options import TrainingOptions


class NanFit(StageConfig):
    """Trains with a loss that turns NaN on rank 1 only, in epoch 2 (test)."""

    def trains(self):
        return True


@register_stage("nan_fit")
def nan_fit(model, cfg: NanFit, ctx):
    """Planted divergence on one rank: every rank must stop at the same step."""
    calls = {"n": 0}
    steps = ctx.data.train_steps(None, ctx.world_size)

    def loss_fn(m, images, labels, index=None):
        calls["n"] += 1
        logits = m(images)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        return (loss * float("nan") if ctx.rank == 1 and calls["n"] > steps + 1 else loss), logits

    return StageResult(model, fit(model, TrainingOptions(epochs=3, lr=0.05, lr_scaling="linear"),
                                   ctx.training_env(), loss_fn=loss_fn, tag="train"))
'''


@pytest.mark.slow
def test_divergence_on_one_rank_stops_every_rank_with_one_error_line(tmp_path, tiny):
    (tmp_path / "nanfit.py").write_text(NAN_ON_ONE_RANK)
    raw = tiny(model={"arch": "seed_cnn"}, data={"dataset": "synthetic", "image_size": 20, "num_samples": 160,
                                                  "num_classes": 4, "batch_size": 16},
               stages=[{"nan_fit": {}}], plugins=["nanfit"], output=str(tmp_path / "runs"))
    path = tmp_path / "n.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = compress(["run", str(path), "--quiet", "--nproc", "2"], tmp_path, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert out.count("error:") == 1 and "diverged" in out and "step 2 of epoch 2" in out, out
    assert "scaled up to x2 for 2 processes" in out
    assert "Traceback" not in out and "Connection closed" not in out
