"""Real photographs: a small CIFAR-10 JPEG subset from ../shared/data through the ImageFolder path."""

from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path

import pytest

from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe

ARCHIVE = Path(__file__).resolve().parents[4] / "shared" / "data" / "cifar10-jpeg.tar.gz"
PER_CLASS = {"train": 200, "test": 100}  # twice the images the recipe keeps (1000 and 500 of 10 classes)


def extract_subset(archive: Path, to: Path) -> None:
    """The archive's first PER_CLASS[split] photos of each class folder, in archive order: writing all of its
    60,000 files took longer than the run, and the recipe keeps a seeded 1,500 of them anyway."""
    with tarfile.open(archive) as tar:
        taken: Counter = Counter()
        members = []
        for member in tar:
            split, *rest = Path(member.name).parts
            if member.isfile() and len(rest) == 2 and taken[split, rest[0]] < PER_CLASS.get(split, 0):
                taken[split, rest[0]] += 1
                members.append(member)
        tar.extractall(to, members=members, filter="data")


@pytest.mark.slow
def test_cifar10_jpegs_train_prune_and_quantize(tmp_path):
    if not ARCHIVE.is_file():
        pytest.skip(f"{ARCHIVE} is absent (the shared CIFAR-10 JPEG archive; see shared/data/README.md)")
    extract_subset(ARCHIVE, tmp_path / "cifar10")
    raw = {"name": "photos", "model": {"arch": "resnet20", "kwargs": {"width": 8}},
           "data": {"dataset": "imagefolder", "root": str(tmp_path / "cifar10"), "image_size": 32,
                    "batch_size": 64, "limit_train": 1000, "limit_val": 500},
           "measure": {"runtimes": ["onnxruntime-cpu"], "batch_sizes": [1], "warmup_s": 0, "min_iters": 3,
                       "min_time_s": 0},
           "stages": [{"train": {"epochs": 2}}, {"prune": {"target": {"ratio": 0.3}, "round_to": None}},
                      {"quantize": {"cache_dir": str(tmp_path / "calib"), "calibration": {"samples": 64}}}],
           "output": str(tmp_path / "runs")}
    result = run_recipe(parse_recipe(raw))
    data = result.metrics["train"]
    assert data.accuracy.samples == 500 and data.accuracy.top1 > 0.15  # ten classes: chance is 0.10
    assert result.metrics["quantize"].model.format == "onnx-int8"
    run = (result.run_dir / "run.json").read_text()
    assert '"val_folder": "test"' in run and '"train_samples": 1000' in run
