"""structure.json is typed whole before a model is built from it: a value of the wrong kind, a missing or extra
key, extra nesting, a layer the model lacks or attributes that do not fit their tensors are refused with an
ArtifactError naming the file and the field, never built into a model and never a traceback."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.config import ModelSpec
from toolkit.errors import ArtifactError
from toolkit.models import build_model
from toolkit.models.io import load_model, save_model

CONV = ("modules", "conv1", "attrs", "out_channels")
BN = ("modules", "bn1", "attrs", "num_features")
FC = ("modules", "fc", "attrs", "in_features")
GROUPS = ("modules", "conv1", "attrs", "groups")
WRONG_KINDS = {"text": "4", "negative": -4, "zero": 0, "float": 4.0, "fraction": 4.5, "true": True, "false": False,
               "huge": 2 ** 40, "list": [4], "mapping": {"value": 4}, "null": None, "nested": {"value": {"deep": 4}}}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    spec = ModelSpec(arch="resnet20", kwargs={"width": 4})
    save_model(build_model(spec, 5).eval(), folder,
               {"model": spec.model_dump(mode="json"), "num_classes": 5, "image_size": 16})
    return folder


def _edited(saved, tmp_path, edit):
    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    path = folder / "structure.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return folder


def _set(where, value):
    def edit(data):
        node = data
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = copy.deepcopy(value)
    return edit


def _drop(where):
    def edit(data):
        node = data
        for key in where[:-1]:
            node = node[key]
        del node[where[-1]]
    return edit


def _refused(saved, tmp_path, edit, *fragments):
    folder = _edited(saved, tmp_path, edit)
    with pytest.raises(ArtifactError) as info:
        load_model(folder)
    text = str(info.value)
    assert str(folder / "structure.json") in text and "\n" not in text
    assert all(f in text for f in fragments), text


# every kind on one field, a spread of them on the others (each case builds a model: keep the tier fast)
COUNT_CASES = [(CONV, kind) for kind in sorted(WRONG_KINDS)] + [
    (where, kind) for where in (BN, FC, GROUPS) for kind in ("text", "negative", "true", "huge", "list")]


@pytest.mark.parametrize("where, kind", COUNT_CASES, ids=[f"{w[-1]}-{k}" for w, k in COUNT_CASES])
def test_a_count_of_the_wrong_kind_is_refused_naming_its_field(saved, tmp_path, where, kind):
    _refused(saved, tmp_path, _set(where, WRONG_KINDS[kind]), f"modules.{where[1]}.attrs.{where[3]}")


@pytest.mark.parametrize("where, value, fragment", [
    (CONV, 8, "weight [4, 3, 3, 3]"),  # a whole number, but not the weight's
    (BN, 8, "8 channels"),
    (FC, 17, "weight [5, 16]"),
    (GROUPS, 2, "groups 2"),
    (("modules", "fc", "attrs", "out_channels"), 5, "no such attribute"),  # an attribute a Linear does not have
], ids=["conv_out", "bn_features", "fc_in", "groups", "foreign_attribute"])
def test_counts_that_do_not_fit_the_tensors_are_refused(saved, tmp_path, where, value, fragment):
    _refused(saved, tmp_path, _set(where, value), f"modules.{where[1]}", fragment)


@pytest.mark.parametrize("edit, fragment", [
    (_drop(("modules", "conv1", "attrs")), "modules.conv1.attrs"),
    (_drop(("modules", "conv1", "tensors")), "modules.conv1.tensors"),
    (_drop(("modules", "conv1", "type")), "modules.conv1.type"),
    (_drop(("class",)), "class"),
    (_drop(("modules", "conv1", "tensors", "weight")), "modules.conv1.tensors"),
    (_set(("modules", "conv1", "tensors", "bogus"), [1]), "modules.conv1.tensors"),
    (_set(("modules", "conv1", "hooks"), {"a": 1}), "modules.conv1.hooks"),
    (_set(("extra",), {"a": 1}), "extra"),
    (_set(("modules", "conv1", "attrs"), [1, 2]), "modules.conv1.attrs"),
    (_set(("modules", "conv1"), "Conv2d"), "modules.conv1"),
    (_set(("modules", "conv1", "type"), ["Conv2d"]), "modules.conv1.type"),
    (_set(("modules", "conv1", "tensors", "weight"), [[4], 3, 3, 3]), "modules.conv1.tensors.weight[0]"),
    (_set(("modules", "conv1", "tensors", "weight"), [True, 3, 3, 3]), "modules.conv1.tensors.weight[0]"),
    (_set(("modules", "conv1", "tensors", "weight"), [2 ** 40, 3, 3, 3]), "modules.conv1.tensors.weight[0]"),
    (_set(("class",), ["ResNet"]), "class"),
    (_set(("spec", "model"), ["resnet20"]), "spec.model"),
    (lambda d: d["modules"].__setitem__("layer9.conv", d["modules"]["conv1"]), "'layer9.conv'"),
    (lambda d: d["modules"].__setitem__("convX", d["modules"].pop("conv1")), "'convX'"),
], ids=["no_attrs", "no_tensors", "no_type", "no_class", "no_weight_shape", "unknown_tensor", "extra_module_key",
        "extra_top_key", "attrs_list", "module_text", "type_list", "shape_nested", "shape_bool", "shape_huge",
        "class_list", "spec_model_list", "unknown_layer", "renamed_layer"])
def test_missing_extra_or_misshapen_keys_are_refused_naming_the_field(saved, tmp_path, edit, fragment):
    _refused(saved, tmp_path, edit, fragment)


def test_layer_names_with_dots_are_named_whole(saved, tmp_path):
    _refused(saved, tmp_path, _set(("modules", "layer1.0.conv1", "attrs", "out_channels"), "4"),
             "modules['layer1.0.conv1'].attrs.out_channels", "(got '4')")


def test_compress_bench_refuses_the_folder_with_exit_2_and_one_line(saved, tmp_path):
    folder = _edited(saved, tmp_path, _set(CONV, "4"))
    result = CliRunner().invoke(main, ["bench", "--model", str(folder), "--runtime", "torch-cpu"])
    assert result.exit_code == 2 and "modules.conv1.attrs.out_channels" in result.output
    assert "Traceback" not in result.output


def test_an_unedited_file_still_loads(saved, tmp_path):
    assert load_model(_edited(saved, tmp_path, lambda data: None)) is not None
