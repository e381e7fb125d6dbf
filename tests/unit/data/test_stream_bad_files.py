"""A data set streamed from disk lists its bad files like an in-memory one, in train and in validation."""

from __future__ import annotations

from png_bomb import decompression_bomb_png

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from toolkit.data import build_data
from toolkit.errors import DataError
from toolkit.config import DataSpec

from tests_make_tree import make_tree  # noqa: E402  (tests/helpers is on sys.path)


def _bad_tree(root: Path) -> dict[str, str]:
    make_tree(root)
    good = (root / "train" / "cat" / "0.png").read_bytes()
    bad = {
        "train/cat/bomb.png": "decompression bomb",
        "train/dog/cut.png": "cannot be decoded",
        "val/cat/int32.tif": "unsupported",
        "val/dog/garbage.jpg": "cannot be decoded",
    }
    decompression_bomb_png(root / "train" / "cat" / "bomb.png", 30000, 30000)
    (root / "train" / "dog" / "cut.png").write_bytes(good[: len(good) // 2])
    Image.fromarray(np.full((8, 8), 7, dtype=np.int32)).save(root / "val" / "cat" / "int32.tif")
    (root / "val" / "dog" / "garbage.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return bad


def test_streamed_data_set_lists_bad_train_and_validation_files(tmp_path):
    expected = _bad_tree(tmp_path)
    bundle = build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8, in_memory=False, workers=0))
    listed = dict(bundle.info["bad_files"])
    for rel, why in expected.items():
        assert why in listed[str(tmp_path / rel)], (rel, listed)
    assert bundle.info["bad_file_count"] == 4
    assert (len(bundle.train), len(bundle.val)) == (12, 6)


def test_streamed_bad_files_are_fatal_with_on_bad_file_error(tmp_path):
    _bad_tree(tmp_path)
    with pytest.raises(DataError, match="int32.tif"):
        build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8, in_memory=False, workers=0,
                            on_bad_file="error"))


def _cut_in_scan_data(path: Path) -> None:
    """A JPEG whose header is intact but whose pixel data stops early: only decoding finds it."""
    pixels = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def test_files_that_only_decoding_finds_reach_the_sink_or_fail(tmp_path):
    make_tree(tmp_path)
    _cut_in_scan_data(tmp_path / "val" / "dog" / "late.jpg")
    spec = DataSpec(dataset="imagefolder", root=tmp_path, image_size=8, in_memory=False, workers=0)
    bundle = build_data(spec)
    assert len(bundle.val) == 7  # its header passes the scan
    seen: list[tuple[str, str]] = []
    bundle.on_streamed_bad_file(lambda path, why: seen.append((path, why)))
    labels = [y for _, y in bundle.val_batches(4)]
    assert sum(len(y) for y in labels) == 6
    assert [p for p, _ in seen] == [str(tmp_path / "val" / "dog" / "late.jpg")]
    list(bundle.val_batches(4))
    assert len(seen) == 1  # each file is listed once, not every epoch

    strict = build_data(spec.model_copy(update={"on_bad_file": "error"}))
    with pytest.raises(DataError, match="late.jpg"):
        list(strict.val_batches(4))


@pytest.mark.slow
def test_streamed_run_lists_scan_and_decode_failures_in_log_txt(tmp_path, tiny):
    from toolkit.run.pipeline import run_recipe
    from toolkit.recipe import parse_recipe

    make_tree(tmp_path / "imgs")
    (tmp_path / "imgs" / "train" / "cat" / "garbage.png").write_bytes(b"\x89PNG garbage")
    _cut_in_scan_data(tmp_path / "imgs" / "val" / "dog" / "late.jpg")
    raw = tiny(data={"dataset": "imagefolder", "root": str(tmp_path / "imgs"), "image_size": 8, "batch_size": 4,
                     "in_memory": False, "workers": 0},
               model={"arch": "user_models:tiny_net"}, stages=[{"train": {"epochs": 1}}])
    result = run_recipe(parse_recipe(raw))
    log = (result.run_dir / "log.txt").read_text()
    assert "garbage.png" in log and "late.jpg" in log
