"""`compress bench`, latency records and latency-targeted pruning."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe

RECORD_FIELDS = {"runtime", "device", "batch_size", "status", "precision", "p50_ms", "p90_ms", "p99_ms", "mean_ms",
                 "throughput_ips", "threads", "iterations", "warmup_iterations", "unstable", "timer"}


@pytest.fixture
def finished_run(tiny):
    raw = tiny(stages=[{"train": {"epochs": 1}}, {"export": {}}])
    raw["measure"]["runtimes"] = ["torch-cpu", "onnxruntime-cpu", "openvino-cpu", "torch-cuda", "onnxruntime-cuda"]
    return run_recipe(parse_recipe(raw))


def test_latency_records_have_their_fields_and_skips_have_reasons(finished_run):
    import torch

    records = {r["runtime"]: r for s in finished_run.stages for r in s.metrics["latency"]}
    assert RECORD_FIELDS <= set(records["openvino-cpu"])
    assert records["openvino-cpu"]["iterations"] >= 3
    if not torch.cuda.is_available():
        assert records["torch-cuda"]["status"] == "skipped" and "CUDA" in records["torch-cuda"]["reason"]
    cuda_ep = records["onnxruntime-cuda"]
    if cuda_ep["status"] == "skipped":
        assert "CUDAExecutionProvider" in cuda_ep["reason"]
    train_only = finished_run.stages[0].metrics["latency"]
    assert all(r["status"] == "ok" for r in train_only if r["runtime"] == "torch-cpu")
    export_torch = [r for r in finished_run.stages[1].metrics["latency"] if r["runtime"] == "torch-cpu"]
    assert export_torch[0]["status"] == "skipped" and "this one is onnx" in export_torch[0]["reason"]


def test_bench_writes_per_device_files_and_leaves_metrics_untouched(finished_run):
    run_dir = finished_run.run_dir
    before = {p: p.read_bytes() for p in run_dir.glob("*/metrics.json")}
    files_before = {p for p in run_dir.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, ["bench", str(run_dir), "--runtime", "onnxruntime-cpu", "--batch-size", "2",
                                       "--min-iters", "3"])
    assert result.exit_code == 0, result.output
    assert {p: p.read_bytes() for p in run_dir.glob("*/metrics.json")} == before
    written = sorted(run_dir.glob("*/measurements/*.json"))
    assert [p.parent.parent.name for p in written] == ["01-train", "02-export"]
    record = json.loads(written[0].read_text())
    assert record["device"]["cpu"] and record["accuracy"]["top1"] is not None
    assert {(r["runtime"], r["batch_size"]) for r in record["latency"]} == {("onnxruntime-cpu", 2)}
    new_files = {p for p in run_dir.rglob("*") if p.is_file()} - files_before
    assert all("measurements" in p.parts for p in new_files)
    html = CliRunner().invoke(main, ["report", str(run_dir)])
    assert html.exit_code == 0 and "by compress bench" in (run_dir / "report.html").read_text()
    assert "latency p50 (ms)" in result.output and "onnxruntime-cpu" in result.output  # the run's table


def test_bench_of_a_run_with_nothing_to_measure_is_an_input_error(finished_run):
    run_json = finished_run.run_dir / "run.json"
    for garbage in ("not a list", [1, "x"], [{"dir": "../etc"}]):
        run_json.write_text(json.dumps({**json.loads(run_json.read_text()), "stages": garbage}))
        result = CliRunner().invoke(main, ["bench", str(finished_run.run_dir), "--runtime", "onnxruntime-cpu",
                                           "--min-iters", "3"])
        assert result.exit_code == 2 and "nothing to measure" in result.output, (garbage, result.output)


def test_bench_measures_a_single_model_file(finished_run):
    onnx_file = finished_run.stages[1].directory / "model.onnx"
    result = CliRunner().invoke(main, ["bench", "--model", str(onnx_file), "--runtime", "onnxruntime-cpu",
                                       "--batch-size", "1", "--min-iters", "3"])
    assert result.exit_code == 0, result.output
    assert "onnxruntime-cpu" in result.output
    missing = CliRunner().invoke(main, ["bench", "--model", str(onnx_file.with_name("nope.onnx"))])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_latency_targeted_pruning_stops_at_the_measured_target(tiny):
    raw = tiny(stages=[{"prune": {"target": {"latency_speedup": 1.3, "runtime": "onnxruntime-cpu",
                                             "batch_size": 8}, "round_to": None}}],
               model={"arch": "resnet20"})
    raw["data"]["image_size"] = 32
    extra = run_recipe(parse_recipe(raw)).stages[-1].metrics["extra"]
    step = extra["steps"][0]
    assert step["curve"] and {"ratio", "macs", "latency_ms", "speedup"} <= set(step["curve"][0])
    if step["target_met"]:
        chosen = [p for p in step["curve"] if abs(p["ratio"] - step["ratio"]) < 1e-3]
        assert chosen and chosen[-1]["speedup"] >= 1.3
    assert 0 < step["ratio"] <= 0.8


def test_bench_on_a_machine_without_the_data_measures_on_random_images(tiny, tmp_path):
    from tests_make_tree import make_tree

    make_tree(tmp_path / "imgs")
    raw = tiny(data={"dataset": "imagefolder", "root": str(tmp_path / "imgs"), "image_size": 8, "batch_size": 4},
               model={"arch": "user_models:tiny_net"})
    run_dir = run_recipe(parse_recipe(raw)).run_dir
    shutil.rmtree(tmp_path / "imgs")  # as on the Jetson the run folder was copied to
    args = ["bench", str(run_dir), "--runtime", "onnxruntime-cpu", "--min-iters", "2"]
    refused = CliRunner().invoke(main, args)  # the model is the user's own code: only run when vouched for
    assert refused.exit_code == 2 and "--trust-code" in refused.output
    result = CliRunner().invoke(main, [*args, "--trust-code"])
    assert result.exit_code == 0, result.output
    record = json.loads(next(run_dir.glob("01-train/measurements/*.json")).read_text())
    assert record["accuracy"]["top1"] is None and "not reachable" in record["accuracy"]["reason"]
    assert record["latency"][0]["status"] == "ok"


def test_bench_ignores_stage_folders_that_leave_the_run_folder(tiny):
    result = run_recipe(parse_recipe(tiny()))
    run_json = result.run_dir / "run.json"
    data = json.loads(run_json.read_text())
    data["stages"].append({"index": 2, "name": "evil", "dir": "../..", "status": "ok"})
    run_json.write_text(json.dumps(data))
    out = CliRunner().invoke(main, ["bench", str(result.run_dir), "--runtime", "torch-cpu", "--min-iters", "2"])
    assert out.exit_code == 0 and "not a stage folder" in out.output
    assert not (result.run_dir.parent.parent / "measurements").exists()
