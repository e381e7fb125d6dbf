"""Each example runs on tiny data, so the examples cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[3] / "examples"


def run(args, cwd):
    done = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_custom_model_on_imagefolder_then_plot_its_metrics(tmp_path):
    out = run([EXAMPLES / "custom_model_imagefolder.py", "--out", tmp_path / "run", "--epochs", "1"], tmp_path)
    assert "quantize" in out and (tmp_path / "run" / "report.html").is_file()
    assert "p50 ms on onnxruntime-cpu, batch 1" in out  # the table names the runtime of its latency
    plotted = run([EXAMPLES / "plot_metrics.py", tmp_path / "run", "--runtime", "onnxruntime-cpu",
                   "--out", tmp_path / "plot.png"], tmp_path)
    assert "4 stages" in plotted and (tmp_path / "plot.png").stat().st_size > 1000


@pytest.mark.slow
def test_custom_stage_example_runs_and_shows_in_compress_stages(tmp_path):
    out = run([EXAMPLES / "custom_stage.py", "--out", tmp_path / "run", "--epochs", "1"], tmp_path)
    assert "model.pt2" in out and (tmp_path / "run" / "02-export_program" / "model.pt2").is_file()
    listing = run(["-m", "toolkit", "--plugin", "custom_stage", "stages"], EXAMPLES)
    assert "export_program:" in listing
