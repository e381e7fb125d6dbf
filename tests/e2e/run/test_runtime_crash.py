"""Issue 33: a runtime that dies with SIGSEGV compiling the INT8 model (OpenVINO's compile_model on ghostnet_100)
no longer takes the run down: `compress run` finishes, the runtime's latency record of that model is `failed` with
the signal named, the speed check records it, run.json is `complete`, and the table and the report say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import tiny_recipe

ROOT = Path(__file__).resolve().parents[3]
HELPERS = ROOT / "tests" / "helpers"
REASON = "crashing-cpu crashed with SIGSEGV while compiling/timing model.int8.onnx"


@pytest.mark.slow
def test_a_runtime_crashing_on_the_int8_model_fails_its_record_and_the_run_completes(tmp_path):
    raw = tiny_recipe(tmp_path, plugins=["crash_plugin"],  # registers crashing-cpu: SIGSEGV on *int8* files
                      stages=[{"train": {"epochs": 1}}, {"quantize": {"cache_dir": str(tmp_path / "calib")}}])
    raw["measure"]["runtimes"] = ["onnxruntime-cpu", "crashing-cpu"]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(HELPERS), env.get("PYTHONPATH", "")]), COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "toolkit", "run", "recipe.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "tiny"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    quantize = json.loads((run_dir / "02-quantize" / "metrics.json").read_text())
    assert quantize["status"] == "ok"
    latency = {rec["runtime"]: rec for rec in quantize["latency"]}
    assert latency["crashing-cpu"]["status"] == "failed" and latency["crashing-cpu"]["reason"] == REASON
    assert latency["onnxruntime-cpu"]["status"] == "ok"  # the other runtime timed the same INT8 file
    checks = {rec["runtime"]: rec for rec in quantize["extra"]["int8_vs_fp32"]["records"]}
    assert checks["crashing-cpu"]["status"] == "failed" and checks["crashing-cpu"]["reason"] == REASON
    assert "int8_speedup" in checks["onnxruntime-cpu"]
    assert REASON in (run_dir / "02-quantize" / "log.txt").read_text()
    assert REASON in (run_dir / "report.html").read_text()
    trained = json.loads((run_dir / "01-train" / "metrics.json").read_text())
    assert all(rec["status"] == "ok" for rec in trained["latency"])  # the fp32 file ran on it
    stdout = " ".join(done.stdout.split())  # the terminal may wrap the line
    assert f"latency of 02-quantize on crashing-cpu failed: {REASON}" in stdout
