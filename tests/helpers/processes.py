"""Running `compress` in a fresh process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compress_process(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m toolkit ARGS` in a fresh process importing this checkout's toolkit (rank variables of an
    enclosing torchrun removed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
