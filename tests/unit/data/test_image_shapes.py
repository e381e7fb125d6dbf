"""data.image_size as an int or [height, width] and data.channels 1 or 3: the spec, its checks and the data sets."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from toolkit.cli import main
from toolkit.config import DataSpec, InputShape
from toolkit.data import build_data

from tests_make_tree import make_tree  # noqa: E402  (tests/helpers is on sys.path)


def test_image_size_takes_an_int_or_height_width_and_gives_channels_height_width():
    assert DataSpec(image_size=40).input_shape == InputShape(3, 40, 40)
    rect = DataSpec(image_size=[96, 160], channels=1, mean=[0.5], std=[0.25])
    assert rect.input_shape == (1, 96, 160) and rect.input_shape.text == "96x160"
    assert DataSpec.model_validate_json(rect.model_dump_json()).input_shape == (1, 96, 160)
    assert rect.model_dump(mode="json")["image_size"] == [96, 160]


def test_a_square_height_width_is_the_int_and_default_channels_keep_cache_keys():
    assert DataSpec(image_size=[32, 32]).image_size == 32
    assert "channels" not in DataSpec(image_size=32).key_dict()  # keys of runs made before channels existed
    assert DataSpec(image_size=32, channels=1).key_dict()["channels"] == 1


BAD = [
    ({"channels": 1, "mean": [0.1, 0.2, 0.3]}, "data.mean: 1 value for channels: 1, got 3"),
    ({"mean": [0.5]}, "data.mean: 3 values for channels: 3, got 1; set data.channels: 1 for grayscale"),
    ({"channels": 1, "mean": [0.5], "std": [0.2, 0.2, 0.2]}, "data.std: 1 value for channels: 1, got 3"),
    ({"image_size": [24, 40, 3]}, "data.image_size: expected an integer (square images) or [height, width], "
                                  "not 3 values"),
    ({"image_size": 0}, "data.image_size: each side must be from 8 to 1024 pixels (got 0)"),
    ({"image_size": [-24, 40]}, "data.image_size: each side must be from 8 to 1024 pixels (got [-24, 40])"),
    ({"image_size": [24.5, 40]}, "data.image_size: each side must be an integer number of pixels"),
    ({"channels": 2}, "data.channels: Input should be 1 or 3"),
]


@pytest.mark.parametrize("data, line", BAD, ids=[b[1].split(":")[0] + str(i) for i, b in enumerate(BAD)])
def test_a_bad_shape_is_one_line_naming_the_field_and_exit_2(tiny, tmp_path, data, line):
    raw = tiny()
    raw["data"].update(data)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["validate", "--schema-only", str(path)])
    assert result.exit_code == 2
    problems = [s.strip() for s in result.output.splitlines() if s.startswith("  ")]
    assert len(problems) == 1 and problems[0].startswith(line), result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("dataset", ["synthetic", "digits"])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_tensor_data_sets_give_height_width_images_in_the_channels_asked(dataset, channels):
    bundle = build_data(DataSpec(dataset=dataset, image_size=[24, 40], channels=channels, num_samples=40,
                                 num_classes=4, limit_train=16, limit_val=8))
    assert bundle.input_shape == (channels, 24, 40)
    assert bundle.example_input(2).shape == (2, channels, 24, 40)
    assert len(bundle.mean) == len(bundle.std) == channels
    x, _ = next(iter(bundle.train_batches(0, seed=0, batch_size=4)))  # augmented (pad crop) keeps the shape
    assert x.shape == (4, channels, 24, 40)
    assert bundle.describe()["image_size"] == [24, 40] and bundle.describe()["channels"] == channels


@pytest.mark.parametrize("in_memory", [True, False])
def test_an_image_folder_read_as_grayscale_is_one_channel_at_height_width(tmp_path, in_memory):
    root = make_tree(tmp_path / "tree", per_class=3, size=20, mode="RGB")  # RGB files, converted to L
    Image.fromarray(np.full((50, 30), 200, dtype=np.uint8), mode="L").save(root / "train" / "cat" / "gray.png")
    spec = DataSpec(dataset="imagefolder", root=root, image_size=[24, 40], channels=1, in_memory=in_memory,
                    workers=0)
    bundle = build_data(spec)
    assert bundle.input_shape == (1, 24, 40) and len(bundle.mean) == 1
    batches = list(bundle.train_batches(0, seed=0, batch_size=7, augment=False))
    assert batches[0][0].shape == (7, 1, 24, 40)
    assert bundle.example_input(1).shape == (1, 1, 24, 40)


def test_streamed_and_in_memory_folders_decode_the_same_pixels(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=2, size=30, mode="L")

    def first(in_memory: bool):
        spec = DataSpec(dataset="imagefolder", root=root, image_size=[12, 20], channels=1, in_memory=in_memory,
                        workers=0)
        return build_data(spec).example_input(2)

    assert first(True).shape == first(False).shape == (2, 1, 12, 20)
    assert (first(True) - first(False)).abs().max() < 1e-6
