"""The compress command: exit codes, no tracebacks for user errors, listings."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.version import __version__


def write(tmp_path, raw):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_validate_reports_schema_errors_with_exit_code_2_and_no_traceback(tiny, tmp_path):
    raw = tiny(stages=[{"train": {"epochs": 0, "lrr": 1}}])
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, raw))])
    assert result.exit_code == 2
    assert "stages[0].train.epochs" in result.output
    assert "did you mean 'lr'" in result.output
    assert "Traceback" not in result.output


def test_validate_accepts_a_good_recipe_and_set(tiny, tmp_path):
    path = write(tmp_path, tiny())
    result = CliRunner().invoke(main, ["validate", str(path), "--set", "stages.0.train.epochs=3"])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_run_with_a_bad_recipe_writes_nothing(tiny, tmp_path):
    raw = tiny(stages=[{"train": {"epochs": -1}}])
    result = CliRunner().invoke(main, ["run", str(write(tmp_path, raw))])
    assert result.exit_code == 2
    assert not (tmp_path / "runs").exists()


def test_missing_recipe_file_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read recipe" in result.output


def test_stages_lists_each_stage_with_options_and_defaults():
    result = CliRunner().invoke(main, ["stages"])
    assert result.exit_code == 0
    assert "train:" in result.output and "epochs = 10" in result.output


def test_schema_is_json():
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "Compression recipe"


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert __version__ in result.output


def test_cli_errors_without_tracebacks_for_bad_set_values_and_runtime_names(tiny, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    bad_set = CliRunner().invoke(main, ["validate", str(path), "--set", "data.batch_size=[1,"])
    assert bad_set.exit_code == 2 and "not valid YAML" in bad_set.output and "Traceback" not in bad_set.output
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    bad_runtime = CliRunner().invoke(main, ["bench", "--model", str(onnx), "--runtime", "onnxruntime-cpux"])
    assert bad_runtime.exit_code == 2 and "did you mean 'onnxruntime-cpu'" in bad_runtime.output


def test_the_stage_listing_uses_yaml_keys_and_shows_nested_options():
    output = CliRunner().invoke(main, ["stages"]).output
    assert "    global = false" in output and "qat.epochs = 2" in output and "calibration.method" in output
