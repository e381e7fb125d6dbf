"""A model that cannot take the input size asked for (timm's ViTs assert 224x224; inception_v3's stem shrinks
64x64 to nothing): `compress inspect` (--model or a recipe) and `compress validate` say so in one line naming the
option or field, exit 2, never a traceback."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from toolkit.cli import main

pytest.importorskip("timm", reason="timm is an optional extra (.[timm]); .[dev] installs it")
VIT = "timm:vit_tiny_patch16_224"


def _one_line(result) -> str:
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def test_inspect_model_names_the_input_size_the_model_refuses():
    out = _one_line(CliRunner().invoke(main, ["inspect", "--model", VIT, "--input-size", "64"]))
    assert f"--input-size: {VIT} cannot take 64x64 inputs (3 channels): AssertionError: Input height (64)" in out


def test_a_recipe_whose_model_refuses_the_image_size_fails_validate_and_inspect_on_that_field(tmp_path):
    path = tmp_path / "vit.yaml"
    path.write_text(yaml.safe_dump({"name": "vit", "model": {"arch": VIT},
                                    "data": {"dataset": "synthetic", "image_size": 64, "num_samples": 64,
                                             "num_classes": 4},
                                    "stages": [{"train": {"epochs": 1}}], "output": str(tmp_path / "runs")}))
    for command in ("validate", "inspect"):
        out = _one_line(CliRunner().invoke(main, [command, str(path)]))
        assert f"data.image_size: {VIT} cannot take 64x64 inputs (3 channels): AssertionError" in out, command
