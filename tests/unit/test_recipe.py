"""Recipe validation: every problem is reported with its path, before any compute."""

from __future__ import annotations

import pytest
import yaml

from toolkit.errors import RecipeError
from toolkit.recipe import apply_overrides, load_recipe, parse_recipe, recipe_json_schema


def problems(raw, **kw):
    with pytest.raises(RecipeError) as info:
        parse_recipe(raw, **kw)
    return dict(info.value.problems)


def test_valid_recipe_parses_with_defaults(tiny):
    recipe = parse_recipe(tiny())
    assert recipe.stages[0].stage_type == "train"
    assert recipe.stages[0].epochs == 2
    assert recipe.stage_names() == ["train"]
    assert recipe.measure.batch_sizes == [1]


def test_unknown_key_suggests_the_closest_and_names_the_path(tiny):
    raw = tiny(stages=[{"train": {"epoch": 3}}])
    found = problems(raw)
    assert "stages[0].train.epoch" in found
    assert "did you mean 'epochs'" in found["stages[0].train.epoch"]


def test_unknown_top_level_key_suggests(tiny):
    raw = tiny()
    raw["measur"] = {}
    assert "did you mean 'measure'" in problems(raw)["measur"]


def test_bad_type_names_the_path(tiny):
    raw = tiny(data={"dataset": "synthetic", "batch_size": "many"})
    assert "data.batch_size" in problems(raw)


def test_out_of_range_value_names_the_path(tiny):
    raw = tiny(stages=[{"train": {"epochs": 0}}])
    assert "greater than 0" in problems(raw)["stages[0].train.epochs"]


def test_all_problems_are_reported_together(tiny):
    raw = tiny(stages=[{"train": {"epochs": -1}}, {"trian": {}}])
    raw["data"]["batch_size"] = 0
    raw["model"]["arch"] = "resnet19"
    found = problems(raw)
    assert {"stages[0].train.epochs", "stages[1]", "data.batch_size", "model.arch"} <= set(found)
    assert "did you mean 'train'" in found["stages[1]"]
    assert "did you mean 'resnet18'" in found["model.arch"]


def test_unknown_runtime_and_dataset_are_named(tiny):
    raw = tiny(measure={"runtimes": ["onnxruntime-cpux"]}, data={"dataset": "digitz"})
    found = problems(raw)
    assert "did you mean 'onnxruntime-cpu'" in found["measure.runtimes[0]"]
    assert "did you mean 'digits'" in found["data.dataset"]


def test_missing_data_root_is_reported(tiny, tmp_path):
    raw = tiny(data={"dataset": "imagefolder", "root": "nowhere"})
    assert "no such folder" in problems(raw, base_dir=tmp_path)["data.root"]


def test_relative_paths_resolve_against_the_recipe_folder(tiny, tmp_path):
    (tmp_path / "recipes" / "data" / "train").mkdir(parents=True)
    raw = tiny(data={"dataset": "imagefolder", "root": "data"})
    path = tmp_path / "recipes" / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    recipe = load_recipe(path)
    assert recipe.data.root == (tmp_path / "recipes" / "data").resolve()


def test_duplicate_stage_names_are_errors(tiny):
    raw = tiny(stages=[{"train": {"name": "base"}}, {"train": {"name": "base"}}])
    assert "duplicate stage name 'base'" in problems(raw)["stages[1].train.name"]


def test_default_stage_names_are_made_unique(tiny):
    recipe = parse_recipe(tiny(stages=[{"train": {}}, {"train": {"epochs": 1}}]))
    assert recipe.stage_names() == ["train", "train-2"]


def test_stage_name_cannot_escape_the_run_folder(tiny):
    raw = tiny(stages=[{"train": {"name": "../../etc"}}])
    assert "stages[0].train.name" in problems(raw)


def test_run_name_cannot_escape_the_output_folder(tiny):
    assert "name" in problems(tiny(name="../evil"))


def test_set_overrides_fields_and_list_items(tiny):
    raw = apply_overrides(tiny(), ["stages.0.train.epochs=7", "data.batch_size=16", "measure.batch_sizes=[1, 8]"])
    recipe = parse_recipe(raw)
    assert recipe.stages[0].epochs == 7
    assert recipe.data.batch_size == 16
    assert recipe.measure.batch_sizes == [1, 8]


def test_set_with_a_missing_list_item_is_an_error(tiny):
    with pytest.raises(RecipeError) as info:
        apply_overrides(tiny(), ["stages.5.train.epochs=1"])
    assert "no list item 5" in str(info.value)


def test_set_without_equals_is_an_error(tiny):
    with pytest.raises(RecipeError):
        apply_overrides(tiny(), ["stages.0.train.epochs"])


def test_duplicate_yaml_keys_are_errors(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: a\nname: b\nmodel: {arch: seed_cnn}\nstages: [train]\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert "duplicate key 'name'" in str(info.value)


def test_yaml_python_tags_are_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\nmodel: {arch: seed_cnn}\nstages: [train]\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert "not valid YAML" in str(info.value)


def test_a_stage_written_as_a_bare_name_takes_defaults(tiny):
    recipe = parse_recipe(tiny(stages=["train"]))
    assert recipe.stages[0].epochs == 10


def test_recipe_round_trips_through_yaml(tiny):
    recipe = parse_recipe(tiny())
    again = parse_recipe(yaml.safe_load(recipe.to_yaml()))
    assert again.to_dict() == recipe.to_dict()


def test_json_schema_describes_stages_and_forbids_unknown_keys():
    schema = recipe_json_schema()
    text = str(schema)
    assert "TrainEntry" in text and "additionalProperties" in text
    assert schema["properties"]["stages"]["type"] == "array"
