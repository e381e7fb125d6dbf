"""Two runs that need the same uncomputed stage at once: one computes it under the output folder's stage lock, the
other waits, says so, and reuses the result (the stage function runs once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from processes import ROOT

GATE_PLUGIN = '''
import os
import time
from pathlib import Path

from toolkit import StageConfig, StageResult, register_stage

HERE = Path(__file__).parent


class Gate(StageConfig):
    """Records each call, then holds the stage until the test creates `go` (test)."""


@register_stage("gate")
def gate(model, cfg: Gate, ctx):
    """Counts its calls in calls.txt; returns once HERE/go exists."""
    with open(HERE / "calls.txt", "a") as calls:
        calls.write(f"{os.getpid()}\\n")
    deadline = time.monotonic() + 300
    while not (HERE / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return StageResult(model)
'''


def _start(recipe: Path, cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "toolkit", "run", str(recipe)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(check, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_the_second_run_waits_for_the_stage_the_first_is_computing_and_reuses_it(tiny, tmp_path):
    (tmp_path / "gate_plugin.py").write_text(GATE_PLUGIN)
    for name in ("a", "b"):
        raw = tiny(name=name, plugins=["gate_plugin"], stages=[{"gate": {}}])
        raw["measure"].update(runtimes=["onnxruntime-cpu"], accuracy=False)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    calls = tmp_path / "calls.txt"
    first = _start(tmp_path / "a.yaml", tmp_path)
    try:
        _wait_for(calls.exists, "the first run to enter the stage")
        second = _start(tmp_path / "b.yaml", tmp_path)
        try:
            log = tmp_path / "runs" / "b" / "log.txt"
            _wait_for(lambda: log.exists() and "waiting for another run" in log.read_text(), "the second to wait")
            (tmp_path / "go").touch()
            out_b, _ = second.communicate(timeout=300)
        finally:
            second.kill()
        out_a, _ = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, out_a
    assert second.returncode == 0, out_b
    assert len(calls.read_text().split()) == 1  # the stage function ran once
    assert "waiting for another run computing stage gate" in out_b
    metrics = json.loads((tmp_path / "runs" / "b" / "01-gate" / "metrics.json").read_text())
    assert metrics["shared_from"] == "a/01-gate"
    assert not (tmp_path / "runs" / ".stage-locks").exists()  # the lock files are removed after use
