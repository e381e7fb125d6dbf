"""SIGINT/SIGTERM in the middle of real work, sent the way a batch runner sends them (the command started with
SIGINT ignored, as `cmd &` or a runner that set SIG_IGN starts it): exit 130 within seconds, no traceback, and
nothing unfinished recorded as done (no complete analysis JSON, run.json not `complete`, no finished stage)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
# `compress ARGS` started as a batch runner (or `cmd &`) starts it: SIGINT ignored, kept across exec
IGNORING_SIGINT = ["-c", ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                         "os.execv(sys.executable, [sys.executable, '-m', 'toolkit', *sys.argv[1:]])")]
PRUNE = {"prune": {"allocation": "sensitivity", "target": {"macs_speedup": 1.5}, "round_to": None,
                   "sensitivity": {"samples": 32, "rounds": 1, "check_rounds": 1}}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    """A folder holding a trained tiny run and its recipe (train + a sensitivity prune, for `analyze`)."""
    from conftest import tiny_recipe

    folder = tmp_path_factory.mktemp("signals")
    raw = tiny_recipe(folder, model={"arch": "seed_cnn"}, stages=[{"train": {"epochs": 3, "lr": 0.05}}])
    raw["data"]["image_size"] = 20  # seed_cnn's smallest input
    (folder / "train.yaml").write_text(yaml.safe_dump(raw))
    (folder / "full.yaml").write_text(yaml.safe_dump({**raw, "stages": raw["stages"] + [PRUNE]}))
    done = _start(["run", "train.yaml", "-q"], folder, ignore_sigint=False)
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, out + err
    return folder, raw


def _start(args: list[str], cwd: Path, ignore_sigint: bool = True) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]), PYTHONUNBUFFERED="1",
               COLUMNS="200")
    launcher = IGNORING_SIGINT if ignore_sigint else ["-m", "toolkit"]
    return subprocess.Popen([sys.executable, *launcher, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _signal_at(proc: subprocess.Popen, marker: str, sig: int) -> tuple[str, str, float]:
    """Send `sig` when stdout shows `marker`; (stdout, stderr, seconds from the signal to the exit)."""
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()))
    reader.start()
    seen, sent = [], None
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            sent = time.monotonic()
            proc.send_signal(sig)
            break
    assert sent is not None, "".join(seen)
    seen.append(proc.stdout.read())
    proc.wait(timeout=120)
    reader.join()
    return "".join(seen), err[0], time.monotonic() - sent


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "marker"), [(signal.SIGINT, "group 1/"), (signal.SIGTERM, "group 2/")],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_analysis_ends_it_with_130_and_no_complete_result(trained, sig, marker):
    folder, _ = trained
    analysis = folder / "runs" / "tiny" / "analysis"
    shutil.rmtree(analysis, ignore_errors=True)  # another test's analysis must not count here
    proc = _start(["analyze", "full.yaml", "--samples", "32", "--rounds", "1", "--fresh"], folder)
    out, err, seconds = _signal_at(proc, marker, sig)
    assert proc.returncode == 130, out + err
    assert seconds < 15 and "Traceback" not in out + err and "interrupted" in err, err
    assert not list(analysis.glob("sensitivity-*.json"))  # nothing unfinished written as the result
    assert (analysis / ".sensitivity-01-train.partial" / "pruning.json").is_file()  # the steps done are kept


@pytest.mark.slow
def test_sigint_to_a_run_started_with_sigint_ignored_stops_it_as_interrupted(trained):
    folder, raw = trained
    (folder / "again.yaml").write_text(yaml.safe_dump({**raw, "name": "again",
                                                       "stages": [{"train": {"epochs": 30, "lr": 0.05}}]}))
    proc = _start(["run", "again.yaml"], folder)
    out, err, seconds = _signal_at(proc, "epoch 1/30", signal.SIGINT)
    assert proc.returncode == 130, out + err
    assert seconds < 15 and "Traceback" not in out + err and "interrupted" in err, err
    run_dir = folder / "runs" / "again"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert not (run_dir / "01-train").exists()
