"""Stages shared across run folders by content key: a stage another run already computed is reused.

The output folder (`runs/`) is the content-addressed store: each complete stage folder's metrics.json
carries its key (its options, its input's key, model and data specs, toolkit version). When a run
misses its own cache, a sibling run's stage folder with the same key is linked into it (hard links;
a copy where the file system has none). Files are only ever replaced by rename, never edited in
place (logs, appended to, are copied), so linked files cannot change under the other run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from toolkit.fsutil import read_json
from toolkit.layout import METRICS, RUN, STAGE_DIR
from toolkit.records import OK, read_metrics
from toolkit.run.folder import RunFolder, write_metrics

LOCKS = ".stage-locks"  # in the output folder: one lock file per stage key while a run computes that stage
# Logs are appended to in place and JSON is small: those are copied; model files (large, only ever
# replaced by rename) are hard-linked.
SMALL_COPIED = {".txt", ".json", ".md", ".yaml"}


def find_shared(folder: RunFolder, key: str) -> Path | None:
    """A complete stage folder with this key in another run folder beside `folder`, else None."""
    output = folder.root.parent
    if not output.is_dir():
        return None
    for run_dir in sorted(output.iterdir()):
        if run_dir == folder.root or not (run_dir / RUN).is_file():
            continue
        for stage_dir in sorted(run_dir.iterdir()):
            match = STAGE_DIR.match(stage_dir.name)
            if not match or match.group(3) or not stage_dir.is_dir():
                continue
            try:
                metrics = read_metrics(read_json(stage_dir / METRICS), sections=False)
            except (ValueError, OSError):
                continue
            if metrics is not None and metrics.key == key and metrics.status == OK:
                source = RunFolder(run_dir)
                if source.cached(int(match.group(1)), match.group(2), key) is not None:  # whole, hashes match
                    return stage_dir
    return None


def _link_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name == "measurements":  # the other run's re-timings compare that run's moments, not ours
            continue
        if entry.is_dir():
            _link_tree(entry, target / entry.name)
            continue
        if entry.suffix in SMALL_COPIED:
            shutil.copy2(entry, target / entry.name)
            continue
        try:
            os.link(entry, target / entry.name)
        except OSError:  # another file system, or links not allowed: copy
            shutil.copy2(entry, target / entry.name)


def reuse_shared(folder: RunFolder, index: int, name: str, key: str) -> dict[str, Any] | None:
    """Link a sibling run's stage with this key into `folder` as its stage `index`-`name`; return its
    metrics (as `RunFolder.cached` would), or None when there is none or it could not be linked."""
    source = find_shared(folder, key)
    if source is None:
        return None
    partial = folder.partial_dir(index, name)
    try:
        if partial.exists():
            shutil.rmtree(partial)
        _link_tree(source, partial)
        metrics = read_json(partial / METRICS)
        metrics.update(index=index, shared_from=f"{source.parent.name}/{source.name}")
        write_metrics(partial, metrics)  # a new file: the source's metrics.json is untouched
        with open(partial / "log.txt", "a", encoding="utf-8") as log:
            log.write(f"reused {source} (same content key {key[:12]}) instead of computing it again\n")
        folder.finalize(index, name)
    except (OSError, ValueError):
        shutil.rmtree(partial, ignore_errors=True)
        return None
    return folder.cached(index, name, key)


def _lock_fd(path: Path, wait: Callable[[], None]) -> int:
    """Open and flock `path` (blocking; `wait()` is called once if another process holds it). The file must
    still be the one at the path once locked: a holder that finished removes it, and whoever waited on the
    removed file locks the new one instead, so two processes never both hold the lock of one key."""
    import fcntl

    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    told = False
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:  # the folder was removed by a finishing holder between mkdir and open
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not told:
                wait()
                told = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        try:
            if os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def stage_claim(folder: RunFolder, index: int, name: str, key: str,
                say: Callable[[str], None]) -> Iterator[dict[str, Any] | None]:
    """Hold the output folder's lock for stage key `key` while this run computes the stage, so that two runs
    (two sweep workers) needing the same uncomputed stage do not both compute it: the second waits, then
    reuses what the first made. Yields a sibling's metrics when one finished while this run waited (the stage
    is then linked in, as `reuse_shared` does), else None: compute it, the lock held until the block ends.

    Uncontended (a single run) it costs a mkdir, an open and a flock. Raises OSError where the output folder
    cannot be written (the caller's disk error handling reports it)."""
    path = folder.root.parent / LOCKS / f"{key}.lock"
    def wait() -> None:
        say(f"waiting for another run computing stage {name} (key {key[:12]})")

    fd = _lock_fd(path, wait)
    try:
        # Another run may have finished the stage while this one waited, or just before it took the lock
        yield reuse_shared(folder, index, name, key)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked, so that no one locks the file being removed
        os.close(fd)
        with contextlib.suppress(OSError):  # only when empty: the next run creates it again
            path.parent.rmdir()
