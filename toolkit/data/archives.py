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
        if root.name.lower().endswith(ARCHIVE_SUFFIXES) and root.is_file():  # data.root names the archive itself
            target = root.with_name(_stem(root.name))
            return (f"; it is an archive: extract it ({_command(root, target)}) and set data.root to {target}, "
                    f"which must then hold train/<class>/ and val/<class>/ (or test/<class>/)")
        if root.is_dir() and any(p.is_dir() for p in root.iterdir()):
            return ""  # it has folders: the caller's error says what is wrong with them
        folders = [f for f in (root, root.parent) if f.is_dir()]
        archives = sorted(p for f in folders for p in f.iterdir()
                          if p.name.lower().endswith(ARCHIVE_SUFFIXES) and p.is_file())
    except OSError:  # unreadable folder: the caller's own error stands alone
        return ""
    if not archives:
        return ""
    command = _command(archives[0], root)
    more = f" ({len(archives) - 1} more archive(s) there)" if len(archives) > 1 else ""
    return (f"; {archives[0]} is not unpacked{more}: extract it there ({command}); data.root must then hold "
            f"train/<class>/ and val/<class>/ (or test/<class>/)")


def _stem(name: str) -> str:
    """'cifar.tar.gz' -> 'cifar'."""
    return next(name[: -len(suffix)] for suffix in ARCHIVE_SUFFIXES if name.lower().endswith(suffix))


def _command(archive: Path, target: Path) -> str:
    """The shell command that unpacks `archive` into the folder `target`, paths quoted."""
    source, folder = shlex.quote(str(archive)), shlex.quote(str(target))
    return (f"unzip {source} -d {folder}" if archive.name.lower().endswith(".zip")
            else f"mkdir -p {folder} && tar xf {source} -C {folder}")
