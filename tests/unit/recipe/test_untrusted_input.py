"""Inputs that would hang, exhaust memory, corrupt training or crash: refused or handled with a plain message."""

from __future__ import annotations

from png_bomb import decompression_bomb_png

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from toolkit.cli.main import main
from toolkit.errors import RecipeError
from toolkit.recipe import load_recipe, parse_recipe

RECIPE = """
name: ok
model: {arch: seed_cnn}
data: {dataset: digits}
stages: [{train: {epochs: 1}}]
"""
BOMB = "name: bomb\nmodel: {arch: seed_cnn}\n" + "\n".join(
    ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
       f"*a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
) + "\nstages: [{train: {options: *a8}}]\n"


def test_a_yaml_alias_bomb_is_refused_at_once_by_run_and_validate(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert path.stat().st_size < 1000
    started = time.perf_counter()
    with pytest.raises(RecipeError, match="YAML aliases"):
        load_recipe(path)
    assert time.perf_counter() - started < 5  # refused from the node graph, never expanded
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and "aliases" in result.output
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2 and "aliases" in result.output


def test_recursive_aliases_are_refused_and_ordinary_anchors_still_work(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("name: loop\nmodel: &m {arch: seed_cnn, kwargs: {self: *m}}\nstages: [train]\n")
    with pytest.raises(RecipeError):
        load_recipe(path)
    path.write_text("name: ok\nmodel: {arch: seed_cnn}\ndata: {dataset: digits}\n"
                    "stages: [{train: &t {epochs: 1}}, {train: *t}]\n")
    assert load_recipe(path).stage_names() == ["train", "train-2"]


@pytest.mark.parametrize("content,expected", [(RECIPE.encode("utf-16"), "UTF-16"),
                                              (bytes(range(256)) * 4, "binary")], ids=["utf16", "binary"])
def test_a_binary_or_utf16_recipe_is_a_plain_error(tmp_path, content, expected):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(content)
    with pytest.raises(RecipeError, match=expected):
        load_recipe(path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and expected in result.output


@pytest.mark.parametrize("field", ["mean", "std"])
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_normalisation_is_refused_at_validation(tmp_path, field, value):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.replace("{dataset: digits}", f"{{dataset: digits, {field}: [0.5, {value}, 0.5]}}"))
    with pytest.raises(RecipeError, match=f"data.{field}"):
        load_recipe(path)


def test_decompression_bombs_and_unsupported_depths_are_skipped_and_listed(tmp_path):
    from toolkit.data import build_data
    from toolkit.config import DataSpec

    for split in ("train", "val"):
        for cls in ("a", "b"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (8, 8), (i * 50, 0, 0)).save(folder / f"{i}.png")
    decompression_bomb_png(tmp_path / "train" / "a" / "bomb.png", 30000, 30000)
    Image.fromarray(np.full((8, 8), 3.0, dtype=np.float32)).save(tmp_path / "train" / "b" / "hdr.tif")
    data = build_data(DataSpec(dataset="imagefolder", root=tmp_path, image_size=8, in_memory=True), 0)
    bad = dict(data.info["bad_files"])
    assert len(data.train) == 4
    assert "decompression bomb" in bad[str(tmp_path / "train" / "a" / "bomb.png")]
    assert "unsupported" in bad[str(tmp_path / "train" / "b" / "hdr.tif")]


def test_sixteen_bit_and_float_images_are_scaled_not_flattened(tmp_path):
    from toolkit.data.decode import open_rgb_checked

    Image.fromarray(np.full((4, 4), 32896, dtype=np.uint16)).save(tmp_path / "grey16.png")
    Image.fromarray(np.full((4, 4), 0.25, dtype=np.float32)).save(tmp_path / "float.tif")
    grey, why = open_rgb_checked(tmp_path / "grey16.png")
    assert why is None and np.asarray(grey).min() == np.asarray(grey).max() == 128
    flt, why = open_rgb_checked(tmp_path / "float.tif")
    assert why is None and np.asarray(flt).min() == np.asarray(flt).max() == 64


def test_non_finite_values_are_written_as_null_with_a_reason(tmp_path):
    from toolkit.fsutil import atomic_write_json

    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"accuracy": {"top1": float("nan")}, "latency": [{"p50_ms": np.float32("inf")}]})

    def refuse(token):
        raise AssertionError(f"bare {token}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data["accuracy"]["top1"] is None and data["latency"][0]["p50_ms"] is None
    assert set(data["nonfinite"]) == {"accuracy.top1", "latency[0].p50_ms"}


def test_a_log_file_that_is_a_symbolic_link_is_not_written_through(tmp_path):
    from toolkit.context import StageLog

    target = tmp_path / "elsewhere.txt"
    target.write_text("mine\n")
    (tmp_path / "log.txt").symlink_to(target)
    with pytest.raises(OSError):
        StageLog(tmp_path / "log.txt", None, "").info("hello")
    assert target.read_text() == "mine\n"


def test_parse_recipe_still_accepts_plain_recipes():
    assert parse_recipe({"name": "x", "model": {"arch": "seed_cnn"}, "stages": [{"train": {}}]}).name == "x"


def test_sizes_that_would_exhaust_memory_are_refused_before_anything_is_allocated(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.replace("data: {dataset: digits}",
                                   "data: {dataset: digits}\nmeasure: {batch_sizes: [1000000]}"))
    with pytest.raises(RecipeError, match="measure.batch_sizes"):
        load_recipe(path)
    for option in (["--batch-size", "1000000"], ["--input-size", "100000"]):
        result = CliRunner().invoke(main, ["bench", "--model", str(tmp_path / "m.onnx"), *option])
        assert result.exit_code == 2 and option[0] in result.output
