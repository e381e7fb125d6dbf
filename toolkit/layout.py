"""The layout of a run folder: file names, the stage-folder pattern, and how a folder proves it is a stage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from toolkit.fsutil import file_hash, read_json

STAGE_DIR = re.compile(r"^\.?(\d{2})-([a-z0-9_-]+)(\.partial|\.trash)?$")
METRICS, CONFIG, RUN = "metrics.json", "config.json", "run.json"
KEY_FILE, OUTPUT_FILE = "key.json", "output.json"
CHECKPOINT_SUFFIX = ".ckpt"  # training checkpoints: kept while a stage is partial, dropped when it completes


def safe_name(name: str) -> bool:
    """A plain file name inside its folder: no separators, no '..' (names come from JSON that may be edited)."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


BOOKKEEPING = {METRICS, CONFIG, KEY_FILE, OUTPUT_FILE, "log.txt"}


def content_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every regular file in a stage folder except its bookkeeping (model, structure, exports)."""
    return {p.name: file_hash(p) for p in sorted(Path(directory).iterdir())
            if p.name not in BOOKKEEPING and not p.name.startswith(".") and not p.name.endswith(CHECKPOINT_SUFFIX)
            and p.is_file() and not p.is_symlink()}


def _hashes_match(directory: Path, recorded: Any) -> bool:
    """Whether every recorded file is present, a plain file, and unchanged."""
    if not isinstance(recorded, dict) or not recorded:
        return False
    for name, digest in recorded.items():
        path = directory / str(name)
        if not safe_name(str(name)) or path.is_symlink() or not path.is_file() or file_hash(path) != digest:
            return False
    return True


def written_by_toolkit(directory: Path) -> bool:
    """Whether a stage-like folder provably holds a toolkit stage: its config.json or key.json records a key."""
    if directory.is_symlink() or not directory.is_dir():
        return False
    for name in (CONFIG, KEY_FILE):
        path = directory / name
        if path.is_symlink():
            continue
        try:
            data = read_json(path)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("key"), str) and re.fullmatch(r"[0-9a-f]{16}", data["key"]):
            return True
    return False
