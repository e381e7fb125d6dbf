"""Every recipe key is in the generated reference (`compress stages`, docs/recipes.md), read from the models."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.config import AugmentSpec, DataSpec, MeasureSpec, ModelSpec
from toolkit.recipe import RecipeHead, ReportSpec

SECTIONS = {"model": ModelSpec, "data": DataSpec, "measure": MeasureSpec, "report": ReportSpec}


def _keys() -> list[str]:
    keys = [field.alias or name for name, field in RecipeHead.model_fields.items()]
    keys += [f"{section}.{field.alias or name}" for section, cls in SECTIONS.items()
             for name, field in cls.model_fields.items()]
    return keys + [f"data.augment.{name}" for name in AugmentSpec.model_fields] + ["stages"]


@pytest.fixture(scope="module")
def listing():
    result = CliRunner().invoke(main, ["stages"])
    assert result.exit_code == 0
    return result.output


@pytest.fixture(scope="module")
def markdown():
    result = CliRunner().invoke(main, ["stages", "--markdown"])
    assert result.exit_code == 0
    return result.output


def test_every_field_of_the_recipe_and_its_sections_is_listed(listing, markdown):
    head = listing.split("\n\n", 1)[0]  # the recipe keys come first, before the first stage
    assert [k for k in _keys() if f"\n    {k} = " not in head] == []
    assert [k for k in _keys() if f"| `{k}` |" not in markdown] == []


def test_the_keys_a_newcomer_looks_for_show_their_defaults_and_help(listing):
    for line in ("    data.limit_train = null  use a seeded subset of this many train images",
                 "    data.image_size = 32  side of square images, or [height, width]",
                 "    data.augment.crop = pad when set  [one of: none, pad, random_resized]",
                 "    data.in_memory = null  decode once into RAM",
                 "    measure.runtimes = [torch-cpu, onnxruntime-cpu, openvino-cpu]  runtimes to time",
                 "    model.arch = required  seed_cnn",
                 "    report.max_accuracy_drop = 1.0  top-1 points below the baseline",
                 "    output = runs  root of run folders", "    seed = 0  seeds",
                 "    plugins = []  your Python modules"):
        assert line in listing, line


def test_a_null_section_block_is_not_called_off(listing):
    assert "    data.augment = null  null: the data set's default augmentation" in listing


def test_markdown_cells_keep_angle_brackets_as_text(markdown):
    assert "run folder is &lt;output>/&lt;name>" in markdown
