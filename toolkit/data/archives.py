"""An image archive not yet unpacked where a recipe's data.root points: named, with the command that unpacks it.

Imports no torch: `compress validate --schema-only` checks data.root with it."""

from __future__ import annotations

import shlex
from pathlib import Path

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".tar", ".zip")


def unpack_hint(root: Path) -> str:
    """'; <archive> is not unpacked: extract it there (<command>), ...' when `root` is missing or holds no folder
    and an archive lies in it or beside it (a download not yet unpacked); '' otherwise. Never raises for the folders
    it cannot list."""
    try:
        if root.is_dir() and any(p.is_dir() for p in root.iterdir()):
            return ""  # it has folders: the caller's error says what is wrong with them
        folders = [f for f in (root, root.parent) if f.is_dir()]
        archives = sorted(p for f in folders for p in f.iterdir()
                          if p.name.lower().endswith(ARCHIVE_SUFFIXES) and p.is_file())
    except OSError:  # unreadable folder: the caller's own error stands alone
        return ""
    if not archives:
        return ""
    archive, target = shlex.quote(str(archives[0])), shlex.quote(str(root))
    command = (f"unzip {archive} -d {target}" if archive.lower().endswith(".zip")
               else f"mkdir -p {target} && tar xf {archive} -C {target}")
    more = f" ({len(archives) - 1} more archive(s) there)" if len(archives) > 1 else ""
    return (f"; {archives[0]} is not unpacked{more}: extract it there ({command}); data.root must then hold "
            f"train/<class>/ and val/<class>/ (or test/<class>/)")
