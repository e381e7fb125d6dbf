"""Locate or extract the CIFAR-10 JPEG archive from ../shared/data for benchmarks.

    python -m benchmarks.cifar   # extract to data/cifar10 (ignored by git) and print its path
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
DATA = REPO / "data" / "cifar10"


def cifar10_root(data: Path = DATA, archive: Path = ARCHIVE) -> Path | None:
    """The ImageFolder root of CIFAR-10 (train/ and test/ folders of JPEG files), extracted from the shared
    archive when needed; None when the archive is absent. Extraction goes to a temporary sibling folder that
    is renamed into place, so an interrupted one never leaves a half-filled `data` behind."""
    if (data / "train").is_dir() and (data / "test").is_dir():
        return data
    if not archive.is_file():
        return None
    data.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=data.parent, prefix=f".{data.name}-"))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        if data.exists():  # a folder without both splits: an older, incomplete extraction
            shutil.rmtree(data)
        tmp.rename(data)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return data


def main() -> int:
    """Command line: extract CIFAR-10 and print the folder, or say why it cannot (exit 1)."""
    root = cifar10_root(DATA, ARCHIVE)
    if root is None:
        print(f"CIFAR-10 is not here: the archive {ARCHIVE} is missing (the benchmarks and the CIFAR-10 "
              f"recipes need it; tests that use it skip)", file=sys.stderr)
        return 1
    print(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
