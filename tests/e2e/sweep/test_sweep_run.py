"""A 4-trial grid with 2 worker processes on the journal storage: the Pareto set is what a brute-force check of the
trials' metrics gives, the baseline's train stage is computed once, and a rerun recomputes nothing."""

from __future__ import annotations

import json

import pytest
import yaml
from processes import compress_process

SWEEP = {"dimensions": {"stages.1.prune.target.ratio": [0.1, 0.25], "stages.1.prune.method": ["l1", "l2"]},
         "objectives": {"top1": "max", "p50": {"runtime": "onnxruntime-cpu", "batch_size": 1}}}


def _dominates(a: dict, b: dict, top1: str, p50: str) -> bool:
    no_worse = a[top1] >= b[top1] and a[p50] <= b[p50]
    return no_worse and (a[top1] > b[top1] or a[p50] < b[p50])


def _mtimes(folder) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_two_worker_grid_keeps_the_measured_pareto_set_and_resumes_without_recomputing(tiny, tmp_path):
    raw = tiny(stages=[{"train": {"epochs": 2, "lr": 0.05}},
                       {"prune": {"target": {"ratio": 0.5}, "finetune_epochs": 0, "round_to": None}}])
    raw["measure"].update(runtimes=["onnxruntime-cpu"], max_stage_drop=None)
    raw["sweep"] = SWEEP
    recipe = tmp_path / "sweep.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))

    done = compress_process(["sweep", str(recipe), "--workers", "2"], tmp_path, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert sum(line.startswith("trial ") for line in done.stdout.splitlines()) == 4  # one line per trial
    sweep_dir = tmp_path / "runs" / "tiny-sweep"
    summary = json.loads((sweep_dir / "summary.json").read_text())
    trials = summary["trials"]
    assert sorted(t["number"] for t in trials) == [0, 1, 2, 3]
    assert {t["state"] for t in trials} <= {"COMPLETE", "FAIL"}
    assert all(t["reason"] for t in trials if t["state"] == "FAIL")  # a failed trial says why
    top1, p50 = [o["label"] for o in summary["objectives"]]
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    assert complete, trials
    brute = sorted(t["number"] for t in complete
                   if not any(_dominates(o["values"], t["values"], top1, p50) for o in complete if o is not t))
    assert sorted(summary["pareto"]) == brute
    assert summary["recommended"] in brute
    # the grid's four points, once each
    assert sorted((t["params"]["stages.1.prune.target.ratio"], t["params"]["stages.1.prune.method"])
                  for t in trials) == [(0.1, "l1"), (0.1, "l2"), (0.25, "l1"), (0.25, "l2")]

    # the baseline trained once: every other trial's train stage is linked from the one that computed it
    runs = sorted((sweep_dir / "runs").iterdir())
    assert [r.name for r in runs] == ["trial-0000", "trial-0001", "trial-0002", "trial-0003"]
    shared = [json.loads((r / "01-train" / "metrics.json").read_text()).get("shared_from") for r in runs]
    assert shared.count(None) == 1, shared
    assert "| recommended" in compress_process(["sweep", str(recipe), "--status"], tmp_path).stdout

    before = _mtimes(sweep_dir / "runs")
    again = compress_process(["sweep", str(recipe), "--workers", "2"], tmp_path, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 of 4 trial(s) done" in again.stdout
    assert _mtimes(sweep_dir / "runs") == before  # nothing recomputed, nothing rewritten
    status = compress_process(["sweep", str(recipe), "--status"], tmp_path)
    assert status.returncode == 0 and len(status.stdout.strip().splitlines()) == 1 + 4, status.stdout
