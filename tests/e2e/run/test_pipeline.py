"""The pipeline contract: run folder, metrics.json, caching, reruns, resume, locking."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from toolkit import Pipeline, stages
from toolkit.errors import RecipeError, RunLockedError
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe

METRIC_FIELDS = {"stage", "index", "status", "reason", "seconds", "key", "model", "accuracy", "latency", "device",
                 "extra"}


def run(raw, **kw):
    return run_recipe(parse_recipe(raw), **kw)


def test_run_writes_the_folder_and_the_metrics_contract(tiny):
    result = run(tiny())
    stage_dir = result.run_dir / "01-train"
    assert {p.name for p in stage_dir.iterdir()} >= {"config.json", "metrics.json", "log.txt", "model.safetensors",
                                                      "structure.json", "model.onnx"}
    assert (result.run_dir / "recipe.yaml").is_file()
    run_json = json.loads((result.run_dir / "run.json").read_text())
    assert run_json["status"] == "complete" and run_json["stages"][0]["dir"] == "01-train"
    metrics = json.loads((stage_dir / "metrics.json").read_text())
    assert METRIC_FIELDS <= set(metrics)
    assert metrics["status"] == "ok" and metrics["model"]["format"] == "torch"
    assert {"params", "macs", "size_bytes"} <= set(metrics["model"])
    assert {"top1", "top5", "samples"} <= set(metrics["accuracy"])
    latency = {r["runtime"]: r for r in metrics["latency"]}
    assert {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "throughput_ips", "threads", "batch_size"} <= set(
        latency["onnxruntime-cpu"])
    assert metrics["model"]["onnx"]["max_abs_diff"] < 1e-4
    assert len(metrics["extra"]["history"]) == 2
    assert not list(result.run_dir.glob(".*partial"))


def test_rerun_of_an_unchanged_recipe_trains_nothing(tiny, count_fits):
    run(tiny())
    assert count_fits == ["train"]
    result = run(tiny())
    assert count_fits == ["train"]
    assert result.stages[0].cached


def test_changing_a_stage_reruns_it_and_its_successors_only(tiny, count_fits):
    stages = [{"train": {"epochs": 1}}, {"train": {"name": "finetune", "epochs": 1, "lr": 0.01}},
              {"train": {"name": "polish", "epochs": 1, "lr": 0.001}}]
    run(tiny(stages=stages))
    assert count_fits == ["train", "finetune", "polish"]
    stages[1]["train"]["lr"] = 0.02
    result = run(tiny(stages=stages))
    assert count_fits[3:] == ["finetune", "polish"]
    assert [s.cached for s in result.stages] == [True, False, False]


def test_changing_measurement_remeasures_without_retraining(tiny, count_fits):
    run(tiny())
    raw = tiny()
    raw["measure"]["batch_sizes"] = [2]
    result = run(raw)
    assert count_fits == ["train"]
    assert {r["batch_size"] for r in result.stages[0].metrics["latency"]} == {2}


def test_fresh_ignores_the_cache(tiny, count_fits):
    run(tiny())
    run(tiny(), fresh=True)
    assert count_fits == ["train", "train"]


def test_an_interrupted_train_stage_resumes_from_its_last_epoch(tiny):
    raw = tiny(stages=[{"train": {"epochs": 4}}])

    def stop_after_two(ctx, epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(raw, hooks={"epoch_end": [stop_after_two]})
    run_dir = tmp_run_dir(raw)
    assert not (run_dir / "01-train").exists()  # nothing half-written looks complete
    assert (run_dir / ".01-train.partial" / "train.ckpt").is_file()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    result = run(raw)
    extra = result.stages[0].metrics["extra"]
    assert extra["resumed_from_epoch"] == 2
    assert [h["epoch"] for h in extra["history"]] == [1, 2, 3, 4]
    assert not (run_dir / "01-train" / "train.ckpt").exists()


def tmp_run_dir(raw):
    from pathlib import Path

    return Path(raw["output"]) / raw["name"]


def test_same_seed_same_weights_on_cpu(tiny, tmp_path):
    import torch

    torch.manual_seed(1)  # whatever ran before must not matter
    first = run(tiny()).stages[0].metrics["extra"]["history"]
    torch.manual_seed(2)
    second = run(tiny(output=str(tmp_path / "other")), fresh=True).stages[0].metrics["extra"]["history"]
    assert [h["loss"] for h in first] == [h["loss"] for h in second]


def test_input_model_is_measured_when_nothing_trains_first(tiny, temporary_stages):
    from pydantic import Field

    from toolkit.config import StageConfig
    from toolkit.context import StageResult
    class Noop(StageConfig):
        """Does nothing (test)."""

        passes: int = Field(1, ge=1)

    temporary_stages("noop_test", Noop)(lambda model, cfg, ctx: StageResult(model, {"passes": cfg.passes}))
    result = run(tiny(stages=[{"noop_test": {}}]))
    assert [s.directory.name for s in result.stages] == ["00-input", "01-noop_test"]
    assert result.stages[0].metrics["accuracy"]["top1"] is not None


def test_stale_stage_folders_are_removed_when_the_recipe_shrinks(tiny):
    run(tiny(stages=[{"train": {"epochs": 1}}, {"train": {"name": "more", "epochs": 1}}]))
    result = run(tiny(stages=[{"train": {"epochs": 1}}]))
    assert not (result.run_dir / "02-more").exists()


def test_cuda_device_without_cuda_is_a_recipe_error(tiny):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RecipeError, match="CUDA"):
        run(tiny(device="cuda"))


def test_a_live_lock_holder_is_named_and_a_dead_one_is_taken_over(tiny):
    raw = tiny()
    run_dir = tmp_run_dir(raw)
    run_dir.mkdir(parents=True)
    holds_lock = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                  "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, f'{os.getpid()}\\n'.encode()); "
                  "print('ok', flush=True); "
                  "time.sleep(30)")
    sleeper = subprocess.Popen([sys.executable, "-c", holds_lock, str(run_dir / ".lock")], stdout=subprocess.PIPE)
    try:
        sleeper.stdout.readline()  # the kernel lock is held
        with pytest.raises(RunLockedError, match=str(sleeper.pid)):
            run(raw)
    finally:
        sleeper.kill()
        sleeper.wait()
    (run_dir / ".lock").write_text(f"{sleeper.pid}\n")  # now dead: stale
    assert run(raw).status == "complete"
    assert not (run_dir / ".lock").exists()


def test_run_model_loads_each_stage_result(tiny):
    result = run(tiny(stages=[{"train": {"epochs": 1}}, {"train": {"name": "more", "epochs": 1}}]))
    first, second = result.model("train"), result.model("more")
    assert not all((a == b).all() for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    with pytest.raises(KeyError):
        result.model("nope")


def test_model_num_classes_must_match_the_data(tiny):
    raw = tiny()
    raw["model"]["num_classes"] = 3
    with pytest.raises(RecipeError, match="model.num_classes"):
        run(raw)


def test_an_image_size_the_model_cannot_take_is_a_recipe_error(tiny):
    from toolkit.errors import UserInputError

    raw = tiny(model={"arch": "seed_cnn"})
    raw["data"]["image_size"] = 8
    with pytest.raises(UserInputError, match="at least 18x18"):
        run(raw)
    raw = tiny(model={"arch": "vgg11"})
    raw["data"]["image_size"] = 8
    with pytest.raises(RecipeError, match="data.image_size"):
        run(raw)
    assert not os.path.exists(tmp_run_dir(raw))


def test_files_a_stage_declares_are_recorded_in_its_metrics(tiny, tmp_path):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[3] / "examples"))
    from custom_stage import ExportProgram

    result = Pipeline(model={"arch": "resnet20", "kwargs": {"width": 8}}, data=tiny()["data"],
                      measure={"runtimes": ["torch-cpu"], "batch_sizes": [1], "min_iters": 2, "warmup_s": 0,
                               "min_time_s": 0},
                      stages=[stages.Train(epochs=1), ExportProgram()]).run(tmp_path / "arts")
    assert result.metrics["export_program"]["artifacts"] == {"program": "model.pt2"}


def test_skipped_and_pass_through_stages_after_an_onnx_stage_keep_the_file_reachable(tiny, temporary_stages):
    from toolkit.artifacts import ONNX, ONNX_INT8, TORCH
    from toolkit.config import StageConfig
    from toolkit.context import StageResult
    from toolkit.errors import StageSkipped

    class Skip(StageConfig):
        """Always skipped (test)."""

    class Same(StageConfig):
        """Passes its input on (test)."""

    def skip(model, cfg, ctx):
        raise StageSkipped("not here")

    temporary_stages("skip_test", Skip, needs=(TORCH, ONNX, ONNX_INT8), makes=None)(skip)
    temporary_stages("same_test", Same, needs=(TORCH, ONNX, ONNX_INT8), makes=None)(lambda m, c, x: StageResult(None))
    raw = tiny(stages=[{"train": {"epochs": 2}}, {"export": {}}, {"skip_test": {}}, {"same_test": {}},
                       {"quantize": {"calibration": {"samples": 32}}}])
    raw["stages"][4]["quantize"]["cache_dir"] = raw["output"] + "/calib"
    result = run_recipe(parse_recipe(raw))
    assert [s.status for s in result.stages] == ["ok", "ok", "skipped", "ok", "ok"]
    assert (result.stages[3].directory / "model.onnx").is_file()
    assert result.metrics["quantize"].model.format == "onnx-int8"
