"""The Python API checks its arguments like the CLI checks a recipe: a wrong type or value is a UserInputError
(the toolkit's own) that names the argument, never an AttributeError or TypeError from deep inside, nor a raw
pydantic ValidationError dump. Each case here used to fail one of those ways (or pass silently)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from torch import nn
from torch.utils.data import TensorDataset

import toolkit
from toolkit import stages
from toolkit.errors import UserInputError

IMAGES, LABELS = torch.randn(16, 3, 16, 16), torch.arange(16) % 4
DATA = (TensorDataset(IMAGES, LABELS), TensorDataset(IMAGES, LABELS))
TRAIN = [stages.Train(epochs=1)]


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 4))


def _pipeline(**changes):
    args = {"model": _net(), "stages": TRAIN, "data": DATA, "num_classes": 4, **changes}
    return toolkit.Pipeline(**args)


def _spec_pipeline() -> toolkit.Pipeline:
    return toolkit.Pipeline(model={"arch": "seed_cnn"}, stages=TRAIN)


CASES = {
    "model as a string": (lambda: _pipeline(model="resnet18"), "model", "{'arch': 'resnet18'}"),
    "model as an int": (lambda: _pipeline(model=3), "model", "int 3"),
    "model class, not instance": (lambda: _pipeline(model=nn.Conv2d), "model", "Conv2d()"),
    "model dict with a bad key": (lambda: _pipeline(model={"arch": "seed_cnn", "bogus": 1}), "model.bogus", ""),
    "model dict without arch": (lambda: _pipeline(model={}), "model.arch", "Field required"),
    "stages as a string": (lambda: _pipeline(stages="train"), "stages", "str 'train'"),
    "stages None": (lambda: _pipeline(stages=None), "stages", "NoneType"),
    "one stage, not a list": (lambda: _pipeline(stages=stages.Train()), "stages", "list"),
    "stages of ints": (lambda: _pipeline(stages=[stages.Train(), 2]), "stages[1]", "int 2"),
    "stages of recipe dicts": (lambda: _pipeline(stages=[{"train": {}}]), "stages[0]", "stages.Train"),
    "stage class, not instance": (lambda: _pipeline(stages=[stages.Train]), "stages[0]", "Train()"),
    "no stages": (lambda: _pipeline(stages=[]), "stages", "at least one"),
    "data as an int": (lambda: _pipeline(data=5), "data", "int 5"),
    "data as a string": (lambda: _pipeline(data="photos"), "data", "str 'photos'"),
    "data pair with None": (lambda: _pipeline(data=(DATA[0], None)), "data", "NoneType"),
    "data dict with a bad key": (lambda: _pipeline(data={"bogus": 1}), "data.bogus", "unknown key"),
    "negative batch size": (lambda: _pipeline(batch_size=-1), "batch_size", "-1"),
    "batch size as a string": (lambda: _pipeline(batch_size="8"), "batch_size", "str '8'"),
    "class count too small": (lambda: _pipeline(num_classes=-3), "num_classes", "-3"),
    "class count as a string": (lambda: _pipeline(num_classes="4"), "num_classes", "str '4'"),
    "seed as a string": (lambda: _pipeline(seed="a"), "seed", "str 'a'"),
    "seed as a bool": (lambda: _pipeline(seed=True), "seed", "bool True"),
    "device as an int": (lambda: _pipeline(device=3), "device", "int 3"),
    "unknown device": (lambda: _pipeline(device="tpu"), "device", "tpu"),
    "data_version as an int": (lambda: _pipeline(data_version=3), "data_version", "int 3"),
    "measure as a string": (lambda: _pipeline(measure="fast"), "measure", "str 'fast'"),
    "bogus runtime name": (lambda: _pipeline(measure={"runtimes": ["bogus-rt"]}), "measure.runtimes[0]", "bogus"),
    "negative measured batch": (lambda: _pipeline(measure={"batch_sizes": [-1]}), "measure.batch_sizes", ""),
    "run into an int": (lambda: _spec_pipeline().run(3), "run_dir", "int 3"),
    "run into None": (lambda: _spec_pipeline().run(None), "run_dir", "NoneType"),
    "run into a folder no run can be named": (lambda: _spec_pipeline().run("runs/my run!"), "run_dir", "my run!"),
    "run fresh as a string": (lambda: _spec_pipeline().run("runs/x", fresh="yes"), "fresh", "str 'yes'"),
    "run progress as a string": (lambda: _spec_pipeline().run("runs/x", progress="x"), "progress", "str 'x'"),
    "run console as an int": (lambda: _spec_pipeline().run("runs/x", console=3), "console", "int 3"),
    "run hooks as an int": (lambda: _spec_pipeline().run("runs/x", hooks=3), "hooks", "int 3"),
    "run hooks of non-functions": (lambda: _spec_pipeline().run("runs/x", hooks={"epoch_end": [1]}), "hooks", ""),
    "recipe() of an int": (lambda: _spec_pipeline().recipe(3), "run_dir", "int 3"),
    "run_recipe of an int": (lambda: toolkit.run_recipe(3), "recipe", "int 3"),
    "run_recipe of None": (lambda: toolkit.run_recipe(None), "recipe", "NoneType"),
    "run_recipe with overrides as a string": (lambda: toolkit.run_recipe("r.yaml", overrides="a=b"), "overrides", ""),
    "run_recipe of a dict with bad keys": (lambda: toolkit.run_recipe({"name": "x", "bogus": 1}), "bogus", ""),
    "load_recipe of an int": (lambda: toolkit.load_recipe(3), "path", "int 3"),
    "load_model of an int": (lambda: toolkit.load_model(3), "path", "int 3"),
    "load_model of None": (lambda: toolkit.load_model(None), "path", "NoneType"),
    "load_model on a string base": (lambda: toolkit.load_model("runs/x/01-train", base_model="net"), "base_model",
                                    "str 'net'"),
    "build_model of a string": (lambda: toolkit.build_model("resnet18"), "spec", "str 'resnet18'"),
    "build_model of a dict with a bad key": (lambda: toolkit.build_model({"arch": "seed_cnn", "x": 1}), "spec.x", ""),
    "build_data of a string": (lambda: toolkit.build_data("digits"), "spec", "str 'digits'"),
    "build_data of an unknown data set": (lambda: toolkit.build_data({"dataset": "digitz"}), "spec.dataset", "digits"),
    "get_runtime of a bogus name": (lambda: toolkit.get_runtime("bogus-rt"), "name", "unknown runtime"),
    "get_runtime of an int": (lambda: toolkit.get_runtime(3), "name", "int 3"),
    "get_stage of an int": (lambda: toolkit.get_stage(3), "name", "int 3"),
    "write_report of an int": (lambda: toolkit.write_report(3, "report.html"), "run_dirs", "int 3"),
    "write_report into None": (lambda: toolkit.write_report(["runs/x"], None), "out", "NoneType"),
    "model_fingerprint of a string": (lambda: toolkit.model_fingerprint("net"), "model", "str 'net'"),
    "datasets with a negative batch size": (
        lambda: __import__("toolkit.api_data").api_data.bundle_from_datasets(*DATA, 4, -1), "batch_size", "-1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrong_argument_is_a_toolkit_error_naming_it(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing is written, and relative paths resolve here if anything were
    call, argument, shown = CASES[case]
    try:
        call()
    except UserInputError as exc:
        message = str(exc)
    except (ValidationError, AttributeError, TypeError, ValueError, KeyError) as exc:
        pytest.fail(f"{case}: {type(exc).__name__} instead of the toolkit's error: {exc}")
    else:
        pytest.fail(f"{case}: accepted")
    assert argument in message and shown in message, message
    assert "validation error for" not in message and "errors.pydantic.dev" not in message, message
    assert list(Path(tmp_path).iterdir()) == []


def test_right_arguments_are_still_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pipe = _pipeline(seed=1, device="cpu", batch_size=8, data_version="v1", measure={"runtimes": ["torch-cpu"]})
    assert pipe.recipe(Path("runs") / "mine").name == "mine" and pipe.data_spec.batch_size == 8
    by_name = toolkit.Pipeline(model={"arch": "seed_cnn"}, stages=(stages.Train(epochs=1),))
    assert by_name.model_spec.arch == "seed_cnn"
    assert toolkit.get_runtime("torch-cpu").name == "torch-cpu"
    assert isinstance(toolkit.build_model({"arch": "seed_cnn"}, num_classes=4, image_size=20), nn.Module)
    net = _net()
    assert toolkit.model_fingerprint(net) == toolkit.model_fingerprint(net) != toolkit.model_fingerprint(_net())
