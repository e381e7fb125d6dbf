"""Every data set kind builds; batching is seeded; bad files are found, not fatal."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from toolkit.data import build_data
from toolkit.errors import DataError
from toolkit.config import DataSpec

from tests_make_tree import make_tree  # noqa: E402  (tests/helpers is on sys.path)


def test_digits_are_real_and_split_by_seed():
    bundle = build_data(DataSpec(dataset="digits", image_size=16))
    assert (len(bundle.train), len(bundle.val)) == (1437, 360)
    assert bundle.num_classes == 10
    x, y = next(iter(bundle.val_batches(8)))
    assert x.shape == (8, 3, 16, 16) and y.dtype == torch.long
    again = build_data(DataSpec(dataset="digits", image_size=16))
    assert torch.equal(again.val.labels, bundle.val.labels)
    other = build_data(DataSpec(dataset="digits", image_size=16), seed=1)
    assert not torch.equal(other.val.labels, bundle.val.labels)


def test_synthetic_builds_with_the_requested_shape():
    bundle = build_data(DataSpec(dataset="synthetic", image_size=8, num_samples=40, num_classes=4))
    assert bundle.num_classes == 4 and len(bundle.train) + len(bundle.val) == 40
    assert bundle.example_input(3).shape == (3, 3, 8, 8)


def test_train_order_depends_only_on_seed_and_epoch():
    bundle = build_data(DataSpec(dataset="synthetic", image_size=8, num_samples=64, batch_size=8))
    first = [y for _, y in bundle.train_batches(0, seed=1)]
    again = [y for _, y in bundle.train_batches(0, seed=1)]
    other = [y for _, y in bundle.train_batches(1, seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_ranks_get_disjoint_equal_shares():
    bundle = build_data(DataSpec(dataset="synthetic", image_size=8, num_samples=80, batch_size=4))
    shares = [torch.cat([y for _, y in bundle.train_batches(0, 0, rank=r, world=2, augment=False)]) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1])


def test_calibration_comes_from_the_train_split():
    bundle = build_data(DataSpec(dataset="digits", image_size=8))
    batches = bundle.calibration_batches(100, 32, seed=0)
    assert sum(len(b) for b in batches) == 100
    train_rows = {tuple(r.tolist()) for r in bundle.train.images.flatten(1)[:, ::7].round(decimals=4)}
    sample = batches[0][0] * torch.tensor(bundle.std).view(3, 1, 1) + torch.tensor(bundle.mean).view(3, 1, 1)
    assert tuple(sample.flatten()[::7].round(decimals=4).tolist()) in train_rows


def test_imagefolder_in_memory_with_test_folder_as_validation(tmp_path):
    make_tree(tmp_path, val="test")
    bundle = build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8))
    assert bundle.classes == ["cat", "dog"]
    assert (len(bundle.train), len(bundle.val)) == (12, 6)
    assert bundle.info["val_folder"] == "test"
    assert bundle.train.images.dtype == torch.uint8


def test_imagefolder_streams_when_not_in_memory(tmp_path):
    make_tree(tmp_path)
    bundle = build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8, in_memory=False, workers=0))
    xs = [x for x, _ in bundle.train_batches(0, 0, batch_size=4)]
    assert xs and xs[0].shape == (4, 3, 8, 8)


def test_imagefolder_converts_grayscale_and_rgba(tmp_path):
    make_tree(tmp_path, mode="L")
    Image.new("RGBA", (12, 12), (10, 20, 30, 128)).save(tmp_path / "train" / "cat" / "alpha.png")
    bundle = build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8))
    assert bundle.train.images.shape[1] == 3 and len(bundle.train) == 13


def test_imagefolder_lists_bad_files_and_skips_them(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / "cat" / "empty.jpg").write_bytes(b"")
    (tmp_path / "train" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    bundle = build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8))
    assert bundle.info["bad_file_count"] == 3
    assert len(bundle.train) == 12


def test_imagefolder_bad_files_can_be_fatal(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "train" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError, match="broken.jpg"):
        build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8, on_bad_file="error"))


def test_imagefolder_class_mismatch_is_named(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "val" / "cow").mkdir()
    with pytest.raises(DataError, match="only in val: \\['cow'\\]"):
        build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8))


def test_imagefolder_without_splits_is_explained(tmp_path):
    (tmp_path / "cat").mkdir()
    with pytest.raises(DataError, match="train/<class>"):
        build_data(DataSpec(dataset="imagefolder", root=tmp_path))


def _fake_cifar(root):
    """torchvision's CIFAR-10 python layout, tiny."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, handle)


def test_cifar10_through_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    _fake_cifar(tmp_path)
    # torchvision checks the md5 sums of the real archive; these files are a tiny stand-in of its layout
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    bundle = build_data(DataSpec(dataset="cifar10", root=tmp_path, image_size=32))
    assert (len(bundle.train), len(bundle.val), bundle.num_classes) == (20, 4, 10)
    assert bundle.train.images.shape[1:] == (3, 32, 32)


def test_cifar10_missing_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="download: true"):
        build_data(DataSpec(dataset="cifar10", root=tmp_path))
