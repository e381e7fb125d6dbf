"""A model file beside the recipe (issue 33, item 7): `arch: "user_models:build"` with user_models.py in the
recipe's folder builds from any working directory, without putting that folder on sys.path, and a saved stage
rebuilds from it (its structure.json keeps the folder as model.code_dir)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from toolkit.cli.main import main
from toolkit.config import ModelSpec
from toolkit.errors import RecipeError, UserInputError
from toolkit.models import build_model, load_model
from toolkit.recipe import load_recipe
from toolkit.run.pipeline import run_recipe

NET = '''from torch import nn

WIDTH = {width}


def build(num_classes=10, in_channels=3):
    return nn.Sequential(nn.Conv2d(in_channels, WIDTH, 3, padding=1), nn.BatchNorm2d(WIDTH), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(WIDTH, num_classes))
'''


def _folder(root: Path, name: str, width: int, arch: str = "beside_net:build") -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "beside_net.py").write_text(NET.format(width=width))
    raw = {"name": name, "model": {"arch": arch},
           "data": {"dataset": "synthetic", "image_size": 16, "num_samples": 32, "num_classes": 4, "batch_size": 16},
           "measure": {"runtimes": [], "accuracy": False}, "stages": [{"prune": {"target": {"ratio": 0.5}}}],
           "output": str(root / "runs")}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(raw))
    return folder / "recipe.yaml"


def test_a_model_file_beside_the_recipe_builds_without_touching_sys_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the working directory is not the recipe's folder
    first, second = _folder(tmp_path, "one", 16), _folder(tmp_path, "two", 24)
    path_before = list(sys.path)
    validated = CliRunner().invoke(main, ["validate", str(first)])
    assert validated.exit_code == 0, validated.output
    recipes = [load_recipe(first), load_recipe(second)]
    assert [r.model.code_dir for r in recipes] == [first.parent.resolve(), second.parent.resolve()]
    models = [build_model(r.model, 4, 16) for r in recipes]
    assert [m[0].out_channels for m in models] == [16, 24]  # each recipe's own beside_net.py, no collision
    assert sys.path == path_before and "beside_net" not in sys.modules
    assert models[0](torch.randn(2, 3, 16, 16)).shape == (2, 4)


def test_a_saved_stage_of_a_model_beside_the_recipe_is_rebuilt_from_its_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = _folder(tmp_path, "saved", 16)
    first = run_recipe(recipe)
    assert first.stages[-1].metrics["extra"]["channels"]["0"] == [16, 8]
    pruned = load_model(first.stages[-1].directory, allowed_arch="beside_net:build")  # as a resumed run loads it
    assert pruned[0].out_channels == 8 and pruned(torch.randn(1, 3, 16, 16)).shape == (1, 4)
    again = run_recipe(recipe)
    assert again.stages[-1].cached and again.stages[-1].status == "ok"
    saved = yaml.safe_load((tmp_path / "runs" / "saved" / "recipe.yaml").read_text())
    assert saved["model"]["code_dir"] == str(recipe.parent.resolve())


def test_a_package_beside_the_recipe_and_the_errors_that_name_the_file(tmp_path):
    package = tmp_path / "nets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "layers.py").write_text("WIDTH = 8\n")
    (package / "small.py").write_text(NET.format(width=4).replace("WIDTH = 4", "from .layers import WIDTH"))
    spec = ModelSpec(arch="nets.small:build", code_dir=tmp_path)
    assert build_model(spec, 4, 16)[0].out_channels == 8  # relative imports inside the package work
    with pytest.raises(UserInputError, match=r"nets.small .*has no function 'buidl' \(did you mean 'build'\?\)"):
        build_model(ModelSpec(arch="nets.small:buidl", code_dir=tmp_path), 4, 16)
    (tmp_path / "needs_sibling.py").write_text("import sibling_helpers\n")
    with pytest.raises(UserInputError, match="No module named 'sibling_helpers'.*not on sys.path: make it a package"):
        build_model(ModelSpec(arch="needs_sibling:build", code_dir=tmp_path), 4, 16)
    missing = _folder(tmp_path, "missing", 4, arch="not_beside:build")
    with pytest.raises(RecipeError, match="cannot find module 'not_beside'"):
        load_recipe(missing)
