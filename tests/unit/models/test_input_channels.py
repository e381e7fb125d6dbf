"""Models built for the data's input shape: channels (1 or 3) and [height, width], saved and loaded back."""

from __future__ import annotations

import pytest
import torch
import yaml
from click.testing import CliRunner

import toolkit
from toolkit.cli import main
from toolkit.config import InputShape, ModelSpec
from toolkit.errors import UserInputError
from toolkit.models import build_model, load_model
from toolkit.models.io import save_model
from toolkit.models.zoo import adapt_in_channels

GRAY_RECT = InputShape(1, 24, 40)


@pytest.mark.parametrize("arch, kwargs", [("seed_cnn", {}), ("resnet20", {"width": 4}), ("resnet18", {}),
                                          ("mobilenet_v2", {"width_mult": 0.25})])
@pytest.mark.parametrize("shape", [GRAY_RECT, InputShape(3, 24, 40)], ids=["gray", "rgb"])
def test_each_built_in_kind_builds_for_the_channels_and_height_width(arch, kwargs, shape):
    model = build_model(ModelSpec(arch=arch, kwargs=kwargs), 5, shape).eval()
    assert model(torch.randn(shape.batch(2))).shape == (2, 5)


def test_a_torchvision_stem_for_one_channel_sums_its_rgb_filters():
    rgb = build_model(ModelSpec(arch="resnet18"), 5).eval()
    gray = build_model(ModelSpec(arch="resnet18"), 5).eval()
    gray.load_state_dict(rgb.state_dict())
    adapt_in_channels(gray, 1, "resnet18")
    image = torch.rand(1, 1, 32, 32)
    assert gray.conv1.in_channels == 1
    assert torch.allclose(gray(image), rgb(image.repeat(1, 3, 1, 1)), atol=1e-4)  # a gray image is R = G = B


def test_a_user_function_gets_in_channels_and_input_size_when_it_declares_them():
    model = build_model(ModelSpec(arch="user_models:shaped_net"), 5, GRAY_RECT)
    assert model.built_with == (1, (24, 40))
    assert build_model(ModelSpec(arch="user_models:shaped_net"), 5, InputShape(3, 32, 32)).built_with == (3, 32)


def test_a_one_channel_rectangular_model_saves_and_loads_back_exactly(tmp_path):
    spec = ModelSpec(arch="resnet18")
    model = build_model(spec, 5, GRAY_RECT).eval()
    save_model(model, tmp_path, {"model": spec.model_dump(mode="json"), "num_classes": 5, "image_size": [24, 40],
                                 "channels": 1})
    loaded = load_model(tmp_path)
    image = torch.randn(GRAY_RECT.batch(2))
    assert torch.equal(loaded(image), model(image))


def test_the_api_builds_for_image_size_and_channels_as_a_recipe_names_them():
    model = toolkit.build_model({"arch": "seed_cnn"}, num_classes=4, image_size=[24, 40], channels=1)
    assert model(torch.randn(2, 1, 24, 40)).shape == (2, 4)
    with pytest.raises(UserInputError, match="channels: Input should be 1 or 3"):
        toolkit.build_model({"arch": "seed_cnn"}, num_classes=4, channels=4)
    with pytest.raises(UserInputError, match=r"image_size: expected an integer \(square images\)"):
        toolkit.build_model({"arch": "seed_cnn"}, num_classes=4, image_size=[24, 40, 3])


def test_a_model_made_for_other_channels_is_blamed_on_data_channels_in_the_pre_flight(tiny, tmp_path):
    raw = tiny(model={"arch": "user_models:tiny_net"})  # its first convolution takes 3 channels
    raw["data"].update(channels=1, image_size=[16, 24])
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "data.channels: is 1, but user_models:tiny_net's first convolution takes 3" in result.output
    assert "data.image_size" not in result.output and "Traceback" not in result.output
