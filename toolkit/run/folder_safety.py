"""Checks before the toolkit writes into a run folder: it is ours, and nothing in it leads outside.

A run folder is data that may come from someone else (copied with `tar` or `rsync -a`, which keep symbolic
links) or may be a folder of the user's that a recipe's `output:`/`name:` happens to name. The toolkit
therefore writes only into folders it can prove it made, and never through a link.
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.errors import UserInputError
from toolkit.layout import RUN, STAGE_DIR, written_by_toolkit

TOP_LEVEL_FILES = {RUN, "recipe.yaml", "log.txt", "report.html", ".lock"}


def _ours(entry: Path) -> bool:
    """An entry of a run folder that the toolkit writes (a stage folder only when it can prove it)."""
    if entry.name in TOP_LEVEL_FILES or (entry.name.startswith(".") and entry.name.endswith(".tmp")):
        return True
    return bool(STAGE_DIR.match(entry.name)) and written_by_toolkit(entry)


def check_run_folder(root: Path) -> None:
    """Refuse a folder that holds files but is not a run folder; UserInputError names it and what it holds."""
    root = Path(root)
    if not root.exists():
        return
    if not root.is_dir():
        raise UserInputError(f"{root} exists and is not a folder; choose another output: or name:")
    if (root / RUN).is_file() and not (root / RUN).is_symlink():
        return
    if (root / RUN).is_symlink():  # a copied or edited folder: never written through, so never taken as ours
        raise UserInputError(f"{root / RUN} is a symbolic link (to {os.readlink(root / RUN)}), not a file the "
                             f"toolkit wrote; the toolkit never writes through links in a run folder. Replace it "
                             f"with a copy of the file, or choose another output: or name:")
    foreign = sorted(e.name for e in root.iterdir() if not _ours(e))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise UserInputError(f"{root} is not empty and is not a run folder (no run.json; it holds {shown}); "
                             f"choose another output: or name: (compress never removes files it did not write)")


def links_in(root: Path) -> list[Path]:
    """Symbolic links among the entries the toolkit writes in a run folder (top level and stage folders)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for entry in sorted(root.iterdir()):
        if not (entry.name in TOP_LEVEL_FILES or STAGE_DIR.match(entry.name)):
            continue
        if entry.is_symlink():
            found.append(entry)
        elif entry.is_dir():
            for folder, dirs, files in os.walk(entry, followlinks=False):
                found += [Path(folder) / n for n in sorted(dirs + files) if os.path.islink(os.path.join(folder, n))]
    return found


def check_no_links(root: Path) -> None:
    """Refuse a run folder whose toolkit entries include symbolic links (a write could land outside it)."""
    found = links_in(root)
    if found:
        shown = "; ".join(f"{p} -> {os.readlink(p)}" for p in found[:5])
        raise UserInputError(f"{root}: {len(found)} symbolic link(s) where the toolkit writes ({shown}); nothing is "
                             f"written outside a run folder: replace them with copies (cp -rL, or rsync -aL) "
                             f"or remove them")
