"""Stages shared across run folders by content key: a stage another run already computed is reused.

The output folder (`runs/`) is the content-addressed store: each complete stage folder's metrics.json
carries its key (its options, its input's key, model and data specs, toolkit version). When a run
misses its own cache, a sibling run's stage folder with the same key is linked into it (hard links;
a copy where the file system has none). Files are only ever replaced by rename, never edited in
place (logs, appended to, are copied), so linked files cannot change under the other run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from toolkit.fsutil import read_json
from toolkit.layout import METRICS, RUN, STAGE_DIR
from toolkit.records import OK, read_metrics
from toolkit.run.folder import RunFolder, write_metrics

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
