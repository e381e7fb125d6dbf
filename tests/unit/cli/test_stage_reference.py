"""`compress stages` shows each stage's own defaults as a recipe writes them, with allowed choices."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.errors import RecipeError
from toolkit.recipe import parse_recipe
from toolkit.cli.stage_reference import type_name, yaml_value

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def listing():
    result = CliRunner().invoke(main, ["stages"])
    assert result.exit_code == 0
    return result.output


def test_nested_defaults_are_the_stages_own_not_the_option_classes(listing):
    assert "finetune.lr = 0.01 " in listing and "finetune.epochs = 1\n" in listing  # Prune's, not train's 0.05
    assert "target.macs_speedup = 2.0" in listing
    assert "qat = null (off)" in listing and "qat.lr = 0.001 when set" in listing


def test_values_are_written_as_in_a_recipe_never_as_python_reprs(listing):
    for repr_text in ("PosixPath(", "PruneTarget(", "TrainingFields(", "Calibration(", "None", "True", "'sgd'"):
        assert repr_text not in listing, repr_text
    assert "cache_dir = null" in listing  # beside the run folders, not the working directory


def test_literal_fields_list_their_allowed_choices(listing):
    assert "optimizer = sgd  [one of: sgd, adamw]" in listing
    assert "schedule = cosine  [one of: cosine, onecycle, constant]" in listing
    assert "calibration.method = minmax  [one of: minmax, entropy, percentile]" in listing


def test_value_and_type_rendering():
    assert [yaml_value(v) for v in (None, True, [1, "a"], Path("x/y"), "a: b")] == ["null", "true", "[1, a]", "x/y",
                                                                                    '"a: b"']
    from typing import Literal

    assert type_name(Literal["a", "b"] | None) == "one of: a, b or null"
    assert type_name(list[str]) == "list of str"
    from toolkit.prune.config import Prune  # a constrained int beside a literal: both are said (round_to)

    assert type_name(Prune.model_fields["round_to"].annotation) == "int or one of: auto or null"


def test_unknown_key_errors_list_yaml_keys_like_the_readme():
    with pytest.raises(RecipeError) as err:
        parse_recipe({"name": "x", "model": {"arch": "seed_cnn"}, "data": {"dataset": "digits"},
                      "stages": [{"prune": {"globl": True}}]})
    assert "global," in str(err.value) and "global_pruning" not in str(err.value)
    assert "`global` (rank channels across layers)" in (ROOT / "docs" / "stages.md").read_text()
    recipe = parse_recipe({"name": "x", "model": {"arch": "seed_cnn"}, "data": {"dataset": "digits"},
                           "stages": [{"prune": {"global": True}}]})
    assert recipe.stages[0].global_pruning is True


def test_a_partly_given_finetune_block_keeps_the_prune_stages_own_defaults():
    from toolkit import stages

    assert stages.Prune(finetune={"optimizer": "adamw"}).finetune.lr == 0.01
    assert stages.Prune(finetune={"lr": 0.02}).finetune.lr == 0.02
    assert stages.Prune().finetune.lr == 0.01
