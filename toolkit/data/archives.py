"""An image archive not yet unpacked where a recipe's data.root points: named, with the command that unpacks it.

Imports no torch: `compress validate --schema-only` checks data.root with it."""

from __future__ import annotations

import shlex
from pathlib import Path

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".tar", ".zip")
SPLITS = ("train", "val", "test")


def unpack_hint(root: Path) -> str:
    """'; <archive> is not unpacked: extract it ... (<command>) ...' when `root` is missing or holds no folder and an
    archive lies in it or beside it (a download not yet unpacked), or when `root` is the archive itself; '' otherwise.
    An archive whose members sit in one top folder (cifar/train/...) is unpacked beside it, and data.root is that
    folder. Never raises for folders or archives it cannot read."""
    try:
        if root.name.lower().endswith(ARCHIVE_SUFFIXES) and root.is_file():  # data.root names the archive itself
            command, target = _unpack(root, root.with_name(_stem(root.name)))
            return f"; it is an archive: extract it ({command}) and set data.root to {target}{_MUST_HOLD}"
        if root.is_dir() and any(p.is_dir() for p in root.iterdir()):
            return ""  # it has folders: the caller's error says what is wrong with them
        folders = [f for f in (root, root.parent) if f.is_dir()]
        archives = sorted(p for f in folders for p in f.iterdir()
                          if p.name.lower().endswith(ARCHIVE_SUFFIXES) and p.is_file())
    except OSError:  # unreadable folder: the caller's own error stands alone
        return ""
    if not archives:
        return ""
    command, target = _unpack(archives[0], root)
    more = f" ({len(archives) - 1} more archive(s) there)" if len(archives) > 1 else ""
    then = "" if target == root else f", then set data.root to {target}"
    return f"; {archives[0]} is not unpacked{more}: extract it ({command}){then}{_MUST_HOLD}"


_MUST_HOLD = "; data.root must hold train/<class>/ and val/<class>/ (or test/<class>/)"


def _unpack(archive: Path, wanted: Path) -> tuple[str, Path]:
    """(the shell command that unpacks `archive`, the folder that then holds its splits): into `wanted`, or beside
    the archive when its members sit in one top folder (which then holds the splits)."""
    top = top_folder(archive)
    folder = archive.parent if top else wanted
    source, into = shlex.quote(str(archive)), shlex.quote(str(folder))
    command = (f"unzip {source} -d {into}" if archive.name.lower().endswith(".zip")
               else f"mkdir -p {into} && tar xf {source} -C {into}")
    return command, (folder / top if top else folder)


def top_folder(archive: Path) -> str | None:
    """The one folder all of a zip's members sit in, or a tar's first member's top folder, when it is not a split
    (train/, val/, test/) and is a plain name; None otherwise or when the archive cannot be read. A tar is read up to
    its first member only (a .tar.gz of a data set is large)."""
    import tarfile
    import zipfile

    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as handle:
                tops = {name.split("/", 1)[0] for name in handle.namelist() if name.strip("/")}
            top = tops.pop() if len(tops) == 1 else None
        else:
            with tarfile.open(archive, "r:*") as handle:
                first = handle.next()
            name = first.name.lstrip("./") if first is not None else ""
            top = name.split("/", 1)[0] if first is not None and ("/" in name or first.isdir()) else None
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, ValueError):
        return None
    if not top or top in SPLITS or top in (".", "..") or not top.isprintable() or "\\" in top:
        return None
    return top


def _stem(name: str) -> str:
    """'cifar.tar.gz' -> 'cifar'."""
    return next(name[: -len(suffix)] for suffix in ARCHIVE_SUFFIXES if name.lower().endswith(suffix))
