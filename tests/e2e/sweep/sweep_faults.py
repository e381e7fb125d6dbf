"""Helpers of the sweep fault tests: a sweep recipe whose trials last a few seconds, a `compress sweep` process in
a process group of its own, and waiting on the study for a running trial."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from processes import ROOT

GRID = {"dimensions": {"stages.1.prune.target.ratio": [0.1, 0.25], "stages.1.prune.method": ["l1", "l2"]},
        "objectives": {"top1": "max", "p50": {"runtime": "onnxruntime-cpu", "batch_size": 1}}}


def slow_trials_recipe(tiny, tmp_path: Path) -> Path:
    """A 4-point grid whose trials fine-tune for a few seconds after the shared baseline (time to kill one)."""
    raw = tiny(stages=[{"train": {"epochs": 1}},
                       {"prune": {"target": {"ratio": 0.5}, "finetune_epochs": 4, "round_to": None}}])
    raw["data"]["num_samples"] = 1200
    raw["measure"].update(runtimes=["onnxruntime-cpu"], max_stage_drop=None)
    raw["sweep"] = GRID
    recipe = tmp_path / "sweep.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    return recipe


def start_sweep(args: list[str], cwd: Path) -> subprocess.Popen:
    """`python -m toolkit sweep ARGS` in a new process group (so that a test can signal it as a terminal does)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "toolkit", "sweep", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def running_trial(storage: Any, process: subprocess.Popen, after: float = 0.0, timeout: float = 300) -> Any:
    """The first RUNNING trial that has recorded its worker's pid and has run `after` seconds, read from the
    study while `process` runs."""
    import optuna

    deadline, seen = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for summary in storage.get_all_studies():
            for t in storage.get_all_trials(summary._study_id, deepcopy=False,
                                            states=(optuna.trial.TrialState.RUNNING,)):
                if isinstance(t.user_attrs.get("pid"), int):
                    seen.setdefault(t.number, time.monotonic())
                    if time.monotonic() - seen[t.number] >= after:
                        return t
        time.sleep(0.2)
    raise AssertionError("no trial ran")


def finished(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str, str]:
    """Wait for the sweep process; its exit code, stdout and stderr."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err
