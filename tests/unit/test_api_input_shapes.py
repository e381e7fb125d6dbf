"""The Python API takes the input shape from your datasets (channels, height, width), as a recipe's data: does."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from toolkit import Pipeline, stages
from toolkit.errors import UserInputError


def _datasets(channels: int, height: int = 24, width: int = 40):
    labels = torch.arange(16) % 2
    images = torch.randn(16, channels, height, width)
    return TensorDataset(images[:12], labels[:12]), TensorDataset(images[12:], labels[12:])


def test_a_pipeline_on_grayscale_height_width_datasets_records_that_shape(tmp_path):
    module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    pipe = Pipeline(model=module, data=_datasets(1), num_classes=2, stages=[stages.Train(epochs=1)])
    assert tuple(pipe.bundle.input_shape) == (1, 24, 40) and pipe.bundle.mean == (0.0,)
    data = pipe.recipe(tmp_path / "mine").data
    assert (data.image_size, data.channels) == ((24, 40), 1)


def test_datasets_of_other_channel_counts_are_refused_naming_them():
    with pytest.raises(UserInputError, match="images of 4 channels"):
        Pipeline(model=nn.Linear(2, 2), data=_datasets(4), num_classes=2, stages=[stages.Train(epochs=1)])
