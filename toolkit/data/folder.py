"""ImageFolder trees: scan, check classes, find bad files, decode small sets into RAM once."""

from __future__ import annotations

from pathlib import Path

import torch

from toolkit.config import AugmentSpec, DataSpec, InputShape
from toolkit.data.bundle import DataBundle, seeded_subset
from toolkit.data.decode import IMAGE_SUFFIXES, decode_with_reasons, header_problem
from toolkit.data.images import FileImages, TensorImages
from toolkit.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_GRAY_MEAN, IMAGENET_GRAY_STD = (0.449,), (0.226,)  # their channel averages, for channels: 1
IN_MEMORY_LIMIT_BYTES = 2 * 1024**3


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_split(split_dir: Path, classes: list[str]) -> tuple[list[tuple[Path, int]], list[tuple[str, str]]]:
    """List (file, label) pairs under split_dir/<class>/; returns them and (file, reason) for non-images."""
    files, bad = [], []
    for label, name in enumerate(classes):
        for path in sorted((split_dir / name).rglob("*")):
            if path.is_dir() or path.name.startswith("."):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                bad.append((str(path), "not an image file"))
            elif not path.is_file():  # a broken link or a special file
                bad.append((str(path), "not a readable file"))
            elif path.stat().st_size == 0:
                bad.append((str(path), "empty file"))
            else:
                files.append((path, label))
    return files, bad


def find_splits(root: Path) -> tuple[Path, Path]:
    """Return (train_dir, val_dir); `test/` is accepted as the validation folder."""
    train_dir = root / "train"
    val_dir = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    if not train_dir.is_dir() or val_dir is None:
        raise DataRootError(root, _nearby_root(root))
    return train_dir, val_dir


class DataRootError(DataError):
    """data.root is not an ImageFolder tree; `nearby` is the folder one level up or down that is one, or None.

    The message suggests `nearby` as an absolute path; `for_recipe` words it as the recipe would have it."""

    def __init__(self, root: Path, nearby: Path | None, recipe_dir: Path | None = None):
        self.root, self.nearby = root, nearby
        from toolkit.data.archives import unpack_hint

        super().__init__(f"{root}: expected train/<class>/ and val/<class>/ (or test/<class>/) folders"
                         + (_root_hint(nearby, recipe_dir) or unpack_hint(root)))

    def for_recipe(self, recipe_dir: Path) -> DataRootError:
        """The same error, its suggestion relative to `recipe_dir` (where data.root is resolved from)."""
        return DataRootError(self.root, self.nearby, recipe_dir)


def _has_splits(folder: Path) -> bool:
    return (folder / "train").is_dir() and any((folder / n).is_dir() for n in ("val", "test"))


def _nearby_root(root: Path) -> Path | None:
    """The folder one level up (or one level down) that is an ImageFolder tree, if any."""
    candidates = [root.parent] if root.parent != root else []
    if root.is_dir():
        candidates += sorted(p for p in root.iterdir() if p.is_dir())
    return next((c for c in candidates if _has_splits(c)), None)


def _root_hint(found: Path | None, recipe_dir: Path | None = None) -> str:
    """'; did you mean data.root: ../data/cifar (...)?': relative to the recipe's folder when it is known,
    as a user writes data.root in a recipe (it is resolved from there), else absolute."""
    if found is None:
        return ""
    import os

    splits = f"it has train/ and {'val' if (found / 'val').is_dir() else 'test'}/"
    if recipe_dir is None:
        return f"; did you mean data.root: {found} ({splits})?"
    relative = Path(os.path.relpath(found, Path(recipe_dir).resolve())).as_posix()
    return f"; did you mean data.root: {relative} (relative to the recipe's folder {recipe_dir}; {splits})?"


def build_imagefolder(spec: DataSpec, seed: int) -> DataBundle:
    """Build a bundle from an ImageFolder tree, in memory when it fits."""
    root = Path(spec.root)
    train_dir, val_dir = find_splits(root)
    classes, val_classes = _class_dirs(train_dir), _class_dirs(val_dir)
    if classes != val_classes:
        only_train = sorted(set(classes) - set(val_classes))
        only_val = sorted(set(val_classes) - set(classes))
        raise DataError(f"{root}: class folders differ between {train_dir.name}/ and {val_dir.name}/: "
                        f"only in {train_dir.name}: {only_train}, only in {val_dir.name}: {only_val}")
    if len(classes) < 2:
        raise DataError(f"{train_dir}: found {len(classes)} class folder(s); need at least 2")
    train_files, bad_train = scan_split(train_dir, classes)
    val_files, bad_val = scan_split(val_dir, classes)
    shape = spec.input_shape
    train = seeded_subset(FileImages(train_files, shape, spec.workers), spec.limit_train, seed)
    val = seeded_subset(FileImages(val_files, shape, spec.workers), spec.limit_val, seed + 1)
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"{root}: no images found (train {len(train)}, {val_dir.name} {len(val)})")
    in_memory = spec.in_memory
    if in_memory is None:
        in_memory = (len(train) + len(val)) * shape.channels * shape.height * shape.width < IN_MEMORY_LIMIT_BYTES
    bad = bad_train + bad_val
    if in_memory:
        train, bad_t = _decode(train, shape)
        val, bad_v = _decode(val, shape)
        bad += bad_t + bad_v
    else:  # streamed: headers are checked now; what only decoding finds is recorded by the workers
        train, bad_t = _check_headers(train)
        val, bad_v = _check_headers(val)
        bad += bad_t + bad_v
        drops = train.drops
        drops.root, drops.strict = str(root), spec.on_bad_file == "error"
        val.drops = drops
    if bad and spec.on_bad_file == "error":
        listing = "\n".join(f"    {f}: {why}" for f, why in bad[:50])
        raise DataError(f"{root}: {len(bad)} unreadable or non-image file(s) (data.on_bad_file: error):\n{listing}")
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"{root}: no decodable images (train {len(train)}, {val_dir.name} {len(val)})")
    side = min(shape.height, shape.width)
    augment = AugmentSpec(crop="pad" if side <= 64 else "random_resized", padding=max(1, side // 8), flip=True)
    gray = shape.channels == 1
    return DataBundle(train, val, classes, shape, tuple(spec.mean or (IMAGENET_GRAY_MEAN if gray else IMAGENET_MEAN)),
                      tuple(spec.std or (IMAGENET_GRAY_STD if gray else IMAGENET_STD)),
                      spec.augment if spec.augment is not None else augment,
                      spec.batch_size, spec.eval_batch_size,
                      {"source": str(root), "val_folder": val_dir.name, "bad_files": [list(b) for b in bad],
                       "bad_file_count": len(bad)})


def _check_headers(images: FileImages) -> tuple[FileImages, list[tuple[str, str]]]:
    """Drop files whose header shows they cannot be used (see decode.header_problem) and report them."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [p for p, _ in images.files]
    with ThreadPoolExecutor(max_workers=max(2, (torch.get_num_threads() or 1) * 2)) as pool:
        problems = list(pool.map(header_problem, paths, chunksize=256))
    keep = [f for f, why in zip(images.files, problems) if why is None]
    bad = [(str(p), why) for p, why in zip(paths, problems) if why is not None]
    return FileImages(keep, images.shape, images.workers, images.drops), bad


def _decode(images: FileImages, shape: InputShape) -> tuple[TensorImages, list[tuple[str, str]]]:
    """Decode every file once to `shape`; broken files are dropped and reported."""
    paths = [p for p, _ in images.files]
    tensor, failed = decode_with_reasons(paths, shape, threads=max(2, (torch.get_num_threads() or 1) * 2))
    failed_set = {i for i, _ in failed}
    labels = torch.tensor([label for i, (_, label) in enumerate(images.files) if i not in failed_set],
                          dtype=torch.long)
    return TensorImages(tensor, labels), [(str(paths[i]), why) for i, why in failed]
