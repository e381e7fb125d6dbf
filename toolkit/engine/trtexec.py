"""Building and timing with NVIDIA's trtexec instead of the Python API (engine: {builder: trtexec})."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.engine.plan import precision_counts
from toolkit.errors import StageSkipped, ToolkitError


def trtexec_path() -> str:
    """The trtexec executable, or StageSkipped with a hint."""
    found = shutil.which("trtexec")
    if found is None:
        raise StageSkipped("engine.builder: trtexec is not on PATH (it ships with TensorRT: "
                           "/usr/src/tensorrt/bin/trtexec on JetPack); use builder: api")
    return found


def run_trtexec(cmd: list[str], export_dir: Path, log) -> dict[str, Any]:
    """Run trtexec, then read its JSON exports: per-layer precisions and the timed latencies."""
    export_dir.mkdir(parents=True, exist_ok=True)
    log(" ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    (export_dir / "trtexec.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise ToolkitError(f"trtexec failed (exit {done.returncode}): {(done.stdout + done.stderr)[-800:]}")
    facts: dict[str, Any] = {}
    layers = export_dir / "layers.json"
    if layers.is_file():
        facts["layer_precisions"] = precision_counts(json.loads(layers.read_text()))
    times = export_dir / "times.json"
    if times.is_file():
        latencies = [t.get("latencyMs") for t in json.loads(times.read_text()) if isinstance(t, dict)]
        latencies = [t for t in latencies if isinstance(t, (int, float))]
        if latencies:
            facts["trtexec_p50_ms"] = round(float(np.percentile(latencies, 50)), 4)
    return facts
