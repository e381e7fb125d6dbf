"""The layout of a run folder: file names, the stage-folder pattern, and how a folder proves it is a stage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from toolkit.fsutil import file_hash, read_json, stable_hash

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


SEAL = "seal"
"""The metrics.json field that holds the SHA-256 of the rest of the file: its numbers are reused only while
they are the ones the toolkit wrote (an edited top-1 or latency breaks it). It is a checksum against edits
and copies from elsewhere, not a signature: whoever can write the folder can also write a new seal."""


def metrics_seal(document: dict[str, Any]) -> str:
    """The seal of a metrics.json document (as written: strict JSON values), over every field but the seal."""
    return stable_hash({key: value for key, value in document.items() if key != SEAL}, length=32)


def stage_problem(directory: Path, document: Any, may_be_absent: frozenset[str] = frozenset(), *,
                  no_files_ok: bool = False) -> str | None:
    """Why the stage folder `directory` cannot be trusted as written, or None when it can.

    `document` is its metrics.json as read (raw JSON). Trusted means: the metrics carry a seal that matches
    them, and every file they recorded (the model, structure.json, exports) is present, a plain file inside
    the folder, and has the content hash recorded when it was written (`may_be_absent`: as files_problem;
    `no_files_ok`: a stage that wrote no file, a skipped one, records none). The reason names the file."""
    where = directory / METRICS
    if not isinstance(document, dict):
        return f"{where} is not a JSON object"
    if document.get(SEAL) != metrics_seal(document):
        return (f"{where} does not match its seal (edited after it was written, or written by a toolkit "
                f"that did not seal it)")
    if no_files_ok and document.get("files") == {}:
        return None
    return files_problem(directory, document.get("files"), may_be_absent)


def files_problem(directory: Path, recorded: Any, may_be_absent: frozenset[str] = frozenset()) -> str | None:
    """Why the files a stage's metrics.json recorded (`recorded`: name -> content hash) are not the ones it
    wrote (missing, not a plain file, other content), naming the file; None when all are unchanged.

    `may_be_absent` names files a reader can do without (exports it makes again itself): absent is fine,
    present they must match."""
    where = directory / METRICS
    if not isinstance(recorded, dict) or not recorded:
        return f"{where} records no file hashes"
    for name, digest in recorded.items():
        path = directory / str(name)
        if str(name) in may_be_absent and not path.exists() and not path.is_symlink():
            continue
        if not safe_name(str(name)) or path.is_symlink() or not path.is_file():
            return f"{path} is missing or not a plain file"
        if file_hash(path) != digest:
            return f"{path} changed since its stage wrote it (its content hash differs from {where})"
    return None


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
