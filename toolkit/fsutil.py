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
    try:  # a read-only or full disk fails here already: report it like a failed write
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise disk_error(exc, target) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o644)  # mkstemp makes 0600 files; results are meant to be shared like any output
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


def strict_json(data: Any) -> Any:
    """`data` as strict JSON values, exactly as `atomic_write_json` writes them (read back, it is equal).

    A non-finite number becomes null and the JSON path of each one is listed under "nonfinite" (for a
    mapping at the top level), so that the file stays readable by any JSON parser and says why; numpy and
    torch values and Paths become plain values.
    """
    from toolkit.jsonsafe import finite_json

    clean, replaced = finite_json(data)
    if replaced and isinstance(clean, dict):
        clean["nonfinite"] = {where: "not a finite number (NaN or infinity); written as null" for where in replaced}
    return json.loads(json.dumps(clean, default=_json_default, allow_nan=False))


def atomic_write_json(path: Path, data: Any) -> None:
    """Write strict JSON atomically (indented, keys in insertion order) as `strict_json` makes it."""
    atomic_write_text(path, json.dumps(strict_json(data), indent=2, allow_nan=False) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


MAX_JSON_BYTES = 256 * 2**20


def read_json(path: Path) -> Any:
    """Read JSON; raise ValueError naming the file when it is missing or malformed."""
    try:
        if Path(path).stat().st_size > MAX_JSON_BYTES:  # the toolkit's own files are kilobytes
            raise ValueError(f"larger than {MAX_JSON_BYTES // 2**20} MiB; not a file the toolkit wrote")
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: {exc}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply") from None


def stable_hash(data: Any, length: int = 16) -> str:
    """Hash JSON-able data independently of dict order."""
    text = json.dumps(data, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_hash(path: Path, length: int = 16) -> str:
    """SHA-256 of a file's bytes, as its first `length` hex characters (16: 64 bits, enough to notice a change)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def _read_holder(fd: int) -> int:
    try:
        return int(os.pread(fd, 64, 0).decode("ascii", "replace").split()[0])
    except (OSError, ValueError, IndexError):
        return -1


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir/.lock` for this process; a live holder is a RunLockedError naming its pid.

    The lock is a kernel lock (`flock`) on the file, so it frees itself when its holder dies, however it
    dies: taking over a stale lock is atomic, and two processes can never both hold it. The file holds the
    holder's pid for the message. After locking, the file must still be the one at the path (a holder that
    finished may have removed it meanwhile); otherwise the lock is taken again on the new file.
    """
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / ".lock"
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(20):
        try:
            fd = os.open(lock, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ToolkitError(f"{lock} is a symbolic link; remove it (nothing is written outside the run "
                                   f"folder)") from None
            raise disk_error(exc, lock) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = f"pid {holder}" if holder > 0 else "pid unknown"
            raise RunLockedError(f"{run_dir} is in use by another compress process ({who}); "
                                 f"wait for it to finish or stop it") from None
        except OSError as exc:
            os.close(fd)
            raise disk_error(exc, lock) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # locked a file its previous holder had just removed: lock the current one
    else:
        raise RunLockedError(f"{run_dir}: could not take the lock {lock}")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise disk_error(exc, lock) from None
    try:
        yield
    finally:
        try:
            lock.unlink(missing_ok=True)  # while still locked, so that no one locks the file being removed
        except OSError:
            pass
        os.close(fd)


def resolved_from(value: str | Path, base_dir: Path) -> str:
    """' (relative: resolved from the recipe's folder DIR)' for a relative path, '' for an absolute one: for the
    "no such file" messages of recipe paths, since a recipe copied elsewhere keeps '../' paths that then point
    somewhere else."""
    return "" if Path(value).is_absolute() else f" (relative: resolved from the recipe's folder {base_dir})"
