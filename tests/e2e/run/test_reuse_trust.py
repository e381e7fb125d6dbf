"""Nothing is reused unless it is what the toolkit wrote: cached stages, stages shared from a sibling and
stages that `compress bench` measures are checked against the seal and the file hashes of their metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from toolkit.errors import ArtifactError
from toolkit.recipe import parse_recipe
from toolkit.run.folder import write_metrics
from toolkit.run.pipeline import run_recipe

FAST_BENCH = {"warmup_s": 0.0, "min_iters": 3, "min_time_s": 0.0}


def _recipe(tiny, name):
    raw = tiny(name=name, stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    return parse_recipe(raw)


def _metrics(stage: Path) -> dict:
    return json.loads((stage / "metrics.json").read_text())


def _edit(stage: Path, **changes) -> None:
    """Edit metrics.json by hand, as a person with a text editor would (the seal is left as it was)."""
    metrics = _metrics(stage)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = metrics
        for part in path:
            target = target[part]
        target[last] = value
    (stage / "metrics.json").write_text(json.dumps(metrics))


def test_a_tampered_sibling_is_computed_again_not_shared(tiny, count_fits):
    first = run_recipe(_recipe(tiny, "colleague"))
    _edit(first.run_dir / "01-train", accuracy__top1=0.95)
    second = run_recipe(_recipe(tiny, "mine"))
    assert count_fits == ["train", "train"]  # the edited stage was not trusted
    assert [s.cached for s in second.stages] == [False]
    mine = _metrics(second.run_dir / "01-train")
    assert "shared_from" not in mine and mine["accuracy"]["top1"] != 0.95


@pytest.mark.slow
def test_an_edited_cached_stage_of_the_same_run_is_recomputed(tiny, count_fits):
    recipe = _recipe(tiny, "same")
    first = run_recipe(recipe)
    stage = first.run_dir / "01-train"
    _edit(stage, accuracy__top1=0.95)
    run_recipe(recipe)
    assert count_fits == ["train", "train"]
    assert _metrics(stage)["accuracy"]["top1"] != 0.95


@pytest.mark.slow
def test_a_sibling_measured_on_another_machine_lends_its_model_but_not_its_latency(tiny, count_fits):
    first = run_recipe(_recipe(tiny, "jetson"))
    stage = first.run_dir / "01-train"
    metrics = _metrics(stage)
    metrics["device"] = {**metrics["device"], "cpu": "ARMv8 Processor rev 1 (v8l)", "isa": ["asimddp"],
                         "jetson": {"board": "NVIDIA Jetson Orin Nano"}}
    for record in metrics["latency"]:
        record["p50_ms"] = record["p50_ms"] * 100
    write_metrics(stage, metrics)  # sealed: a genuine run on another machine, not an edit
    second = run_recipe(_recipe(tiny, "here"))
    assert count_fits == ["train"]  # the model is shared ...
    shared = _metrics(second.run_dir / "01-train")
    assert shared["shared_from"] == "jetson/01-train"
    assert shared["device"]["cpu"] != "ARMv8 Processor rev 1 (v8l)"  # ... and measured again here
    ours = {r["runtime"]: r["p50_ms"] for r in shared["latency"]}
    theirs = {r["runtime"]: r["p50_ms"] for r in metrics["latency"]}
    assert all(ours[k] != theirs[k] for k in ours)
    assert "measured on another machine" in (second.run_dir / "01-train" / "log.txt").read_text()


@pytest.mark.slow
def test_bench_refuses_a_model_file_that_is_not_the_one_recorded(tiny, tmp_path):
    from toolkit.bench import bench_run

    first = run_recipe(_recipe(tiny, "one"))
    copy = tmp_path / "copy"
    shutil.copytree(first.run_dir, copy)
    stage = copy / "01-train"
    weights = stage / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # another model at the recorded path
    with pytest.raises(ArtifactError, match="model.safetensors changed since its stage wrote it"):
        bench_run(copy, ["torch-cpu"], [1], FAST_BENCH, log=lambda m: None)
    assert not (stage / "measurements").exists()


def test_bench_refuses_edited_metrics(tiny, tmp_path):
    from toolkit.bench import bench_run

    first = run_recipe(_recipe(tiny, "one"))
    _edit(first.run_dir / "01-train", model__precision="int8")
    with pytest.raises(ArtifactError, match="does not match its seal"):
        bench_run(first.run_dir, ["torch-cpu"], [1], FAST_BENCH, log=lambda m: None)


def test_the_report_warns_about_a_stage_whose_numbers_were_edited(tiny):
    from toolkit.report import render

    first = run_recipe(_recipe(tiny, "edited"))
    _edit(first.run_dir / "01-train", accuracy__top1=0.95)
    warnings = render([first.run_dir])[1]["runs"][0]["warnings"]
    assert any(w.startswith("01-train: ") and "does not match its seal" in w for w in warnings)


def test_a_skipped_stage_that_wrote_no_file_is_not_called_tampered_but_its_seal_still_counts(tiny):
    from toolkit.report import render

    raw = tiny(name="skips", stages=[{"train": {"epochs": 1}}, {"engine": {"precision": "fp16"}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    run = run_recipe(parse_recipe(raw))
    engine = run.run_dir / "02-engine"
    if _metrics(engine)["status"] != "skipped":
        pytest.skip("TensorRT ran here: the engine stage wrote files")
    assert _metrics(engine)["files"] == {}
    assert render([run.run_dir])[1]["runs"][0]["warnings"] == []  # was: "records no file hashes"
    _edit(engine, reason="edited")
    warnings = render([run.run_dir])[1]["runs"][0]["warnings"]
    assert any(w.startswith("02-engine: ") and "does not match its seal" in w for w in warnings), warnings


@pytest.mark.slow
def test_a_stage_measured_again_says_so_under_its_own_folder_name(tiny):
    import io

    from rich.console import Console

    run_recipe(_recipe(tiny, "first"))
    raw = tiny(name="first", stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["onnxruntime-cpu"]  # other measure settings: the model is reused, re-measured
    out = io.StringIO()
    run_recipe(parse_recipe(raw), console=Console(file=out, width=300))
    line = next(x for x in out.getvalue().splitlines() if "measure: settings changed" in x)
    assert line.startswith("[01-train] the recipe's measure: settings changed"), line
