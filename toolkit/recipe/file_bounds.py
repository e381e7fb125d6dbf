"""Recipe input paths read with bounds: the recipe file (never a device, a pipe or an endless file), and paths
it names (a name too long for the OS is a problem of its field, not a crash)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_RECIPE_BYTES = 1024 * 1024  # a recipe is a few kilobytes; a larger file is not a recipe


class RecipeFileError(ValueError):
    """The path is not a regular file, or it is larger than MAX_RECIPE_BYTES; the message says which."""


def read_recipe_bytes(path: Path, cap: int = MAX_RECIPE_BYTES) -> bytes:
    """Return the file's bytes, reading at most cap + 1 of them.

    Raises RecipeFileError for a non-regular file (/dev/zero, a FIFO, a folder) or one over `cap` bytes,
    and OSError when the file cannot be opened or read. The file is opened without blocking so that a FIFO
    is refused instead of waiting for a writer.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
            raise RecipeFileError(f"not a regular file ({kind}); a recipe is a YAML text file")
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, cap + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > cap:
        raise RecipeFileError(f"larger than {cap // 1024} KiB; a recipe is a small YAML text file")
    return b"".join(chunks)


def path_problem(path: Path, kind: str) -> str | None:
    """Why `path` is not an existing file or folder (`kind`), or None; a name too long for the OS says so."""
    try:
        found = path.is_file() if kind == "file" else path.is_dir()
    except OSError as exc:  # ENAMETOOLONG and the like: Path.is_file() passes them on
        return f"cannot use the path {str(path)[:80]!r}...: {exc.strerror or exc}"
    if found:
        return None
    shown = os.path.normpath(path)  # recipes/../data reads as data
    if kind == "file" and path.exists():
        return f"not a regular file (a folder, device, pipe or socket): {shown}"
    if kind == "folder" and path.exists():
        return f"not a folder: {shown}"
    return f"no such {kind}: {shown}"
