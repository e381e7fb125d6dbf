"""Recipe validation: every problem is reported with its path, before any compute."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from toolkit import Pipeline, stages
from toolkit.errors import RecipeError
from toolkit.recipe import (
    apply_overrides,
    load_recipe,
    parse_recipe,
    recipe_json_schema,
)


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
    problem = problems(raw, base_dir=tmp_path)["data.root"]
    assert "no such folder" in problem and f"(relative: resolved from the recipe's folder {tmp_path})" in problem
    raw["data"]["root"] = str(tmp_path / "nowhere")
    assert "relative" not in problems(raw, base_dir=tmp_path)["data.root"]  # an absolute path needs no note


def test_a_path_of_the_wrong_kind_is_named_as_such(tiny, tmp_path):
    (tmp_path / "weights.safetensors").mkdir()  # a folder where a checkpoint file is expected
    (tmp_path / "photos.zip").write_bytes(b"PK")  # a file where a data folder is expected
    raw = tiny(model={"arch": "resnet20", "checkpoint": "weights.safetensors"},
               data={"dataset": "imagefolder", "root": "photos.zip"})
    found = problems(raw, base_dir=tmp_path)
    assert found["model.checkpoint"].startswith("not a regular file (a folder, device, pipe or socket): ")
    assert found["data.root"].startswith("not a folder: ") and "unzip" in found["data.root"]


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


@pytest.mark.parametrize("stage,problem", [
    ({"prune": {"target": {"latency_speedup": 2, "runtime": "openvino-cpux"}}}, "did you mean 'openvino-cpu'"),
    ({"distill": {"teacher": {"arch": "resnet19"}}}, "did you mean 'resnet18'"),
    ({"quantize": {"qat": {"epochs": 1, "teacher": "trian"}}}, "did you mean 'train'"),
    ({"distill": {"teacher": {"arch": "resnet20", "checkpoint": "nowhere.pt"}}},
     r"no such file: .*nowhere\.pt \(relative: resolved from the recipe's folder "),
])
def test_names_inside_stage_options_are_checked_before_compute(tiny, stage, problem):
    with pytest.raises(RecipeError, match=problem):
        parse_recipe(tiny(stages=[{"train": {"epochs": 1}}, stage]))


def test_weights_on_a_model_that_is_not_torchvisions_is_refused(tiny):
    raw = tiny()
    raw["model"]["weights"] = "IMAGENET1K_V1"
    with pytest.raises(RecipeError, match="model.weights"):
        parse_recipe(raw)


def test_the_python_api_checks_names_like_a_recipe():
    with pytest.raises(RecipeError) as info:
        Pipeline(model={"arch": "resnet19"}, data={"dataset": "digitz"}, measure={"runtimes": ["onnxruntime-cpux"]},
                 stages=[stages.Train(epochs=1)])
    assert {"model.arch", "data.dataset", "measure.runtimes[0]"} <= set(dict(info.value.problems))


def test_engine_cache_key_follows_the_measured_batch_sizes(tiny):
    first = parse_recipe(tiny(stages=[{"train": {"epochs": 1}}, {"engine": {"precision": "fp16", "compare": []}}]))
    raw = tiny(stages=[{"train": {"epochs": 1}}, {"engine": {"precision": "fp16", "compare": []}}])
    raw["measure"]["batch_sizes"] = [1, 64]
    second = parse_recipe(raw)
    assert first.stages[1].resolved != second.stages[1].resolved and second.stages[1].resolved.batch_sizes == [1, 64]


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[3] / "recipes").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path):
    from toolkit.recipe import load_recipe, read_yaml

    if "sweep" in read_yaml(path):  # a sweep recipe: the recipe and every value of every dimension
        from toolkit.sweep.spec import load_sweep

        assert load_sweep(path).recipe.stages
        return
    assert load_recipe(path, check_paths=False).stages  # data folders may be absent here: only their paths


def test_a_validator_problem_is_our_sentence_without_pydantics_prefix(tiny):
    found = problems(tiny(stages=[{"prune": {"target": {"ratio": 0.3, "macs_speedup": 2.0}}}]))
    assert found["stages[0].prune.target"].startswith("give exactly one of ratio, macs_speedup")


@pytest.mark.parametrize("value", ["automatic", "16", 0, 300, 1.5, [8], True])
def test_a_round_to_that_is_no_multiple_auto_or_null_is_one_plain_problem(tiny, value):
    found = problems(tiny(stages=[{"prune": {"round_to": value}}]))
    assert list(found) == ["stages[0].prune.round_to"]
    got = "" if isinstance(value, list) else f" (got {value!r})"  # a list or mapping is not echoed back
    sentence = "round_to is a channel multiple (1 to 256), auto (measured) or null"
    assert found["stages[0].prune.round_to"] == sentence + got
