"""A recipe is plain data: tags, keys, numbers and text it cannot hold end in exit 2 naming the file and the
value's path or line, through `compress validate` and `compress run` alike, never in a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.errors import RecipeError
from toolkit.recipe import load_recipe
from toolkit.recipe.yaml_limits import load_bounded

HEAD = "name: ok\nmodel: {arch: seed_cnn}\ndata: {dataset: digits}\n"
TRAIN = "stages: [{train: {epochs: 1}}]\n"
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 9)}]\n" for i in range(7))

# (recipe text, a fragment the error names: the field's path, or the line where there is no field)
CASES = {
    "list_key_block": (HEAD + TRAIN + "? [a, b]\n: 1\n", "line 5"),
    "list_key_flow": (HEAD + TRAIN + "extra: {[1, 2]: x}\n", "extra"),
    "mapping_key": (HEAD + TRAIN + "? {a: 1}\n: 1\n", "line 5"),
    "list_stage_type": (HEAD + "stages: [{[train]: {epochs: 1}}]\n", "stages[0]"),
    "list_option_key": (HEAD + "stages: [{train: {[epochs]: 1}}]\n", "stages[0].train"),
    "set_key": (HEAD + TRAIN + "!!set {a, b}: 1\n", "line 5"),
    "aliased_list_key": (HEAD + TRAIN + "k: &k [a, b]\n? *k\n: 1\n", "line 5"),
    "binary_value": (HEAD + "stages: [{train: {epochs: !!binary aGVsbG8=}}]\n", "stages[0].train.epochs"),
    "binary_name": ("name: !!binary aGVsbG8=\nmodel: {arch: seed_cnn}\nstages: [train]\n", "name"),
    "binary_key": (HEAD + TRAIN + "!!binary aGVsbG8=: 3\n", "line 5"),
    "python_object": (HEAD + "stages: [{train: {epochs: !!python/object/apply:os.system [echo hi]}}]\n",
                      "stages[0].train.epochs"),
    "python_name": (HEAD + "stages: [{train: {epochs: !!python/name:os.system }}]\n", "stages[0].train.epochs"),
    "omap": (HEAD + "stages: [{train: !!omap [{epochs: 1}]}]\n", "stages[0].train"),
    "date": (HEAD + "stages: [{train: {epochs: 2001-12-14}}]\n", "stages[0].train.epochs"),
    "int_past_64_bits": (HEAD + "stages: [{train: {epochs: 123456789012345678901234567890}}]\n",
                         "stages[0].train.epochs"),
    "negative_int_past_64_bits": (HEAD + "stages: [{train: {epochs: 1, lr: -99999999999999999999999}}]\n",
                                  "stages[0].train.lr"),
    "hex_int_past_64_bits": (HEAD.replace("}", ", kwargs: {width: 0xFFFFFFFFFFFFFFFFFF}}", 1) + TRAIN,
                             "model.kwargs.width"),
    "seed_past_64_bits": ("seed: 123456789012345678901234567890\n" + HEAD + TRAIN, "seed"),
    "seed_past_32_bits": ("seed: 4294967296\n" + HEAD + TRAIN, "seed"),
    "nul_in_name": ('name: "o\\0k"\nmodel: {arch: seed_cnn}\n' + TRAIN, "name"),
    "nul_in_path": (HEAD.replace("{dataset: digits}", '{dataset: imagefolder, root: "a\\0b"}') + TRAIN, "data.root"),
    "nul_in_output": (HEAD + 'output: "ru\\0ns"\n' + TRAIN, "output"),
    "escape_in_arch": (HEAD.replace("seed_cnn", '"seed\\x1b[2Jcnn"') + TRAIN, "model.arch"),
    "bell_in_stage": (HEAD + 'stages: ["tr\\aain"]\n', "stages[0]"),
    "c1_control": (HEAD + 'stages: [{train: {epochs: 1, name: "a\\x85b"}}]\n', "stages[0].train.name"),
    "bidi_override": (HEAD + 'output: "runs\\u202Esoy.exe"\n' + TRAIN, "output"),
    "lone_surrogate": (HEAD + 'output: "runs\\uD800"\n' + TRAIN, "output"),
    "control_in_key": (HEAD + TRAIN + '"ke\\0y": 1\n', "line 5"),
    "nan": (HEAD + "stages: [{train: {epochs: 1, lr: .nan}}]\n", "stages[0].train.lr"),
    "inf": (HEAD + "stages: [{train: {epochs: .inf}}]\n", "stages[0].train.epochs"),
    "overflowing_float": (HEAD.replace("}", ", kwargs: {width: 1.0e+999}}", 1) + TRAIN,
                          "model.kwargs.width"),
    "nan_in_free_options": (HEAD.replace("}", ", kwargs: {width: .NaN}}", 1) + TRAIN,
                            "model.kwargs.width"),
    "nested_flow": (HEAD + "stages: [{train: {epochs: 1, x: " + "[" * 1000 + "]" * 1000 + "}}]\n", "nests"),
    "nested_block": (HEAD + "stages:\n- train:\n" + "".join("  " * (i + 2) + f"k{i}:\n" for i in range(300)),
                     "nests"),
    "billion_laughs": (HEAD + LAUGHS + TRAIN, "aliases"),
    "long_text_repeated": (HEAD + "s: &s " + "x" * 200_000 + "\nl: [" + ", ".join(["*s"] * 100) + "]\n" + TRAIN,
                           "aliases"),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_a_recipe_cannot_hold_exit_2_with_the_file_and_the_place(tmp_path, monkeypatch, case, command):
    text, where = CASES[case]
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # a run that wrongly starts writes here, not into the checkout
    result = CliRunner().invoke(main, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and str(path) in result.output and where in result.output
    assert not (tmp_path / "runs").exists()


def test_the_problem_line_names_the_path_and_the_line(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(CASES["int_past_64_bits"][0])
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = "the integer '123456789012345678901234567890' does not fit in 64 bits (line 4)"
    assert info.value.problems == [("stages[0].train.epochs", message)]


@pytest.mark.parametrize("value", ["123456789012345678901234567890", '"a\\0b"', "!!binary aGk=", "{[1]: 2}",
                                   ".nan", "!!python/object/apply:os.system [echo hi]"])
def test_set_values_a_recipe_cannot_hold_exit_2(tmp_path, value):
    path = tmp_path / "recipe.yaml"
    path.write_text(HEAD + TRAIN)
    result = CliRunner().invoke(main, ["validate", str(path), "--schema-only", "--set", f"name={value}"])
    assert result.exit_code == 2 and "--set name" in result.output and "Traceback" not in result.output


def test_a_path_too_long_for_the_os_is_a_problem_of_its_field(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(HEAD.replace("{dataset: digits}", "{dataset: imagefolder, root: " + "a" * 5000 + "}") + TRAIN)
    result = CliRunner().invoke(main, ["validate", str(path), "--schema-only"])
    assert result.exit_code == 2 and "data.root" in result.output and "Traceback" not in result.output


def test_plain_data_still_loads_merge_keys_and_anchors_included(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("name: ok\nmodel: {arch: seed_cnn}\ndata: {dataset: digits}\nseed: 4294967295\n"
                    "stages: [{train: &t {epochs: 1, lr: 0.5}}, {train: {<<: *t, lr: 0.25}}]\n")
    recipe = load_recipe(path)
    assert [s.lr for s in recipe.stages] == [0.5, 0.25] and recipe.stages[1].epochs == 1
    assert load_bounded('a: "tab\\tand\\nnewline"\nb: -9223372036854775808') == {
        "a": "tab\tand\nnewline", "b": -(2 ** 63)}
