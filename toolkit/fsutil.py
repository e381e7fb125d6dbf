"""Atomic file writes, content hashing and the run-folder lock."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolkit.errors import RunLockedError, ToolkitError


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 files, and writers such as safetensors recreate the file: set the mode last,
        # so every result is shared like any other output
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise disk_error(exc, target) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def disk_error(exc: OSError, where: Path) -> ToolkitError:
    """A clear message for disk-full and permission errors (the previous complete files are kept)."""
    reasons = {errno.ENOSPC: "the disk is full", errno.EACCES: "permission denied",
               errno.EROFS: "the file system is read-only", errno.EDQUOT: "the disk quota is exceeded"}
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return ToolkitError(f"cannot write {where}: {reason}; the previous complete state was kept")


def atomic_write_text(path: Path, text: str) -> None:
    """Write text so that readers see the old or the new file, never half of one."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (indented, keys in insertion order)."""
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> Any:
    """Read JSON; raise ValueError naming the file when it is missing or malformed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def stable_hash(data: Any, length: int = 16) -> str:
    """Hash JSON-able data independently of dict order."""
    text = json.dumps(data, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_hash(path: Path, length: int = 16) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(lock: Path) -> int:
    try:
        return int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir/.lock` for this process; a live holder is an error, a dead one's lock is taken over.

    The lock file appears with the pid already in it (written to a temporary file, then hard-linked into
    place, which fails if a lock exists), so another process never reads an empty lock.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / ".lock"
    me = os.getpid()
    for _ in range(3):
        fd, tmp = tempfile.mkstemp(prefix=".lock.", dir=run_dir)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{me}\n")
        try:
            os.link(tmp, lock)
            break
        except FileExistsError:
            holder = _read_holder(lock)
            if holder > 0 and holder != me and _pid_alive(holder):
                raise RunLockedError(f"{run_dir} is in use by another compress process (pid {holder}); "
                                     f"wait for it to finish or stop it") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
        except OSError as exc:
            raise disk_error(exc, lock) from None
        finally:
            Path(tmp).unlink(missing_ok=True)
    else:
        raise RunLockedError(f"{run_dir}: could not take the lock {lock}")
    try:
        yield
    finally:
        if _read_holder(lock) == me:  # never remove a lock another process took over meanwhile
            lock.unlink(missing_ok=True)
