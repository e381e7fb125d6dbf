"""The README's two-line sweep, run exactly as written in a fresh folder: six trials, the baseline trained once,
the report and the status list."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from processes import compress_process

ROOT = Path(__file__).resolve().parents[3]


def _readme_sweep_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [line.strip() for line in text.splitlines() if line.strip().startswith("compress sweep recipes/")]


def test_the_readme_shows_two_sweep_lines_on_a_recipe_that_exists():
    lines = _readme_sweep_lines()
    assert len(lines) == 2 and lines[1].endswith("--status"), lines
    assert (ROOT / shlex.split(lines[0])[2]).is_file()


@pytest.mark.slow
def test_the_readme_sweep_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    run, status = [shlex.split(line)[1:] for line in _readme_sweep_lines()]
    done = compress_process(run, tmp_path, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(line.startswith("trial ") for line in done.stdout.splitlines()) == 6
    sweep_dir = tmp_path / "runs" / "sweep-quickstart-sweep"
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert [t["state"] for t in summary["trials"]] == ["COMPLETE"] * 6, summary["trials"]
    assert summary["recommended"] in summary["pareto"]
    trains = [json.loads((sweep_dir / "runs" / f"trial-{n:04d}" / "01-train" / "metrics.json").read_text())
              for n in range(6)]
    assert [m.get("shared_from") is None for m in trains].count(True) == 1  # the baseline trained once
    assert min(m["accuracy"]["top1"] for m in trains) >= 0.95
    assert (sweep_dir / "report.html").read_text().count('<img class="chart"') == 2  # two runtimes at batch 1
    listed = compress_process(status, tmp_path)
    assert listed.returncode == 0 and "6 of 6 trial(s) done" in listed.stdout and "| recommended" in listed.stdout
