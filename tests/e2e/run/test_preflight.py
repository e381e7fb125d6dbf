"""`compress validate` runs run's pre-flight; an untrained model is warned about in terminal and report."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from tests_make_tree import make_tree

from toolkit.cli.main import main


def write(tmp_path, raw):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def validate(path, *extra):
    return CliRunner().invoke(main, ["validate", str(path), *extra])


def test_validate_refuses_a_model_that_cannot_take_the_image_size(tiny, tmp_path):
    raw = tiny(model={"arch": "inception_v3", "kwargs": {"init_weights": False}})
    raw["data"]["image_size"] = 32
    result = validate(write(tmp_path, raw))
    assert result.exit_code == 2, result.output
    assert "data.image_size" in result.output and "inception_v3 cannot take 32x32" in result.output
    assert "Traceback" not in result.output
    assert validate(write(tmp_path, raw), "--schema-only").exit_code == 0  # the schema alone is fine


def test_validate_suggests_the_parent_of_a_data_root_one_level_too_deep(tiny, tmp_path):
    tree = make_tree(tmp_path / "photos")
    raw = tiny(data={"dataset": "imagefolder", "root": str(tree / "train"), "image_size": 16, "batch_size": 4})
    result = validate(write(tmp_path, raw))
    assert result.exit_code != 0 and "Traceback" not in result.output
    # as a recipe writes it: relative to the recipe's folder (tmp_path), where data.root is resolved from
    assert "did you mean data.root: photos (relative to the recipe's folder" in " ".join(result.output.split())
    raw["data"]["root"] = str(tree)
    good = validate(write(tmp_path, raw))
    assert good.exit_code == 0 and "2 classes" in good.output, good.output


def test_the_suggested_data_root_works_when_pasted_into_a_recipe_in_another_folder(tiny, tmp_path):
    tree = make_tree(tmp_path / "data" / "cifar")
    (tmp_path / "recipes").mkdir()
    raw = tiny(data={"dataset": "imagefolder", "root": "../data/cifar/train", "image_size": 16, "batch_size": 4})
    result = validate(write(tmp_path / "recipes", raw))
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "did you mean data.root: ../data/cifar (" in message, message
    assert str(tree) not in message.split("did you mean", 1)[1].split(";", 1)[0]  # not the absolute path
    raw["data"]["root"] = "../data/cifar"  # the suggestion, pasted
    assert validate(write(tmp_path / "recipes", raw)).exit_code == 0


def test_validate_refuses_weights_missing_from_the_local_cache(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    raw = tiny(model={"arch": "resnet18", "weights": "DEFAULT"}, stages=[{"train": {"epochs": 1}}])
    result = validate(write(tmp_path, raw))
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "not in the local cache" in " ".join(result.output.split())


@pytest.mark.slow
def test_an_untrained_model_is_warned_about_in_validate_run_and_report(tiny, tmp_path):
    raw = tiny(stages=[{"export": {}}])
    raw["measure"]["runtimes"] = ["onnxruntime-cpu"]
    path = write(tmp_path, raw)
    checked = validate(path)
    assert checked.exit_code == 0 and "warning: the model is untrained" in checked.output
    ran = CliRunner().invoke(main, ["run", str(path)])
    assert ran.exit_code == 0, ran.output
    assert "warning: the model is untrained" in ran.output
    assert ran.output.index("data: preparing the synthetic data set") < ran.output.index("00-input")  # non-TTY
    run_dir = tmp_path / "runs" / "tiny"
    assert "untrained" in json.loads((run_dir / "run.json").read_text())["warnings"][0]
    assert "<b>Warning:</b> the model is untrained" in (run_dir / "report.html").read_text()
    trained = tiny(stages=[{"train": {"epochs": 1}}, {"export": {}}])
    assert "warning" not in validate(write(tmp_path, trained)).output


def test_a_missing_data_root_says_so_and_names_the_archive_beside_it(tiny, tmp_path):
    import tarfile

    tree = make_tree(tmp_path / "build" / "cifar")
    (tmp_path / "data").mkdir()
    with tarfile.open(tmp_path / "data" / "cifar.tar.gz", "w:gz") as tar:
        for split in ("train", "val"):
            tar.add(tree / split, arcname=split)
    raw = tiny(data={"dataset": "imagefolder", "root": str(tmp_path / "data" / "cifar"), "image_size": 16,
                     "batch_size": 4})
    result = validate(write(tmp_path, raw))
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in message, message
    assert "data.root: no such folder" in message and "cifar.tar.gz is not unpacked" in message, message
    command = message.split("extract it (", 1)[1].split("); data.root must", 1)[0]
    import subprocess

    subprocess.run(command, shell=True, check=True)  # the command as given unpacks a recipe-ready tree
    assert validate(write(tmp_path, raw)).exit_code == 0


def test_an_empty_data_root_holding_only_its_archive_names_it_in_the_pre_flight(tiny, tmp_path):
    """The folder exists (so the recipe's path check passes) but holds only the download: the pre-flight's
    ImageFolder error names the archive and how to unpack it."""
    root = tmp_path / "photos"
    root.mkdir()
    (root / "photos.zip").write_bytes(b"PK")
    raw = tiny(data={"dataset": "imagefolder", "root": str(root), "image_size": 16, "batch_size": 4})
    message = " ".join(validate(write(tmp_path, raw)).output.split())
    assert "expected train/<class>/ and val/<class>/" in message and "photos.zip is not unpacked" in message, message
    assert f"unzip {root / 'photos.zip'} -d {root}" in message
