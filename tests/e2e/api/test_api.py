"""The Python API: same names and results as recipes, your own model/data/stages, sound cache keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import toolkit
from toolkit import Pipeline, StageConfig, StageResult, register_stage, stages
from toolkit.cli.main import main
from toolkit.errors import RecipeError
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe

TINY_MEASURE = {"runtimes": ["torch-cpu"], "batch_sizes": [1], "warmup_s": 0.0, "min_iters": 2, "min_time_s": 0.0}


def test_public_api_is_listed_typed_and_documented():
    for name in toolkit.__all__:
        obj = getattr(toolkit, name)
        if callable(obj) and not isinstance(obj, type):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
            assert obj.__annotations__.get("return", "missing") != "missing", f"{name} has no return type"
    assert "Pipeline" in toolkit.__all__ and "stages" in toolkit.__all__


def test_api_pipeline_equals_the_yaml_recipe_on_the_same_seed(tiny, tmp_path):
    raw = tiny(stages=[{"train": {"epochs": 2}}, {"prune": {"target": {"ratio": 0.3}, "round_to": None}}])
    from_yaml = run_recipe(parse_recipe(raw))
    pipe = Pipeline(model=raw["model"], data=raw["data"], measure=raw["measure"],
                    stages=[stages.Train(epochs=2), stages.Prune(target={"ratio": 0.3}, round_to=None)])
    from_api = pipe.run(tmp_path / "api" / "tiny")
    for name in ("train", "prune"):
        assert from_api.metrics[name].accuracy.top1 == from_yaml.metrics[name].accuracy.top1
        assert from_api.metrics[name].model.params == from_yaml.metrics[name].model.params
    def learned(run):
        return [(h["loss"], h["train_top1"], h.get("val_top1")) for h in run.metrics["train"].extra.history]
    assert learned(from_api) == learned(from_yaml)
    assert from_api.report_path.is_file()


class Blobs(torch.utils.data.Dataset):
    """A user's dataset: 3x16x16 tensors, two classes told apart by brightness."""

    classes = ["dark", "bright"]

    def __init__(self, n: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % 2
        self.images = torch.rand((n, 3, 16, 16), generator=gen) * 0.5 + self.labels.view(-1, 1, 1, 1) * 0.5

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def user_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 2))


def test_own_module_and_datasets_run_and_are_cached_by_content(tmp_path, capsys):
    module = user_net()
    original = {k: v.clone() for k, v in module.state_dict().items()}
    data = (Blobs(64, 0), Blobs(32, 1))
    pipe = Pipeline(model=module, data=data, measure=TINY_MEASURE, stages=[stages.Train(epochs=1)],
                    data_version="v1")
    first = pipe.run(tmp_path / "mine")
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in original.items())  # the caller's module is kept
    assert first.metrics["train"].accuracy.top1 is not None
    assert isinstance(first.model("train"), nn.Module)
    again = Pipeline(model=module, data=data, measure=TINY_MEASURE, stages=[stages.Train(epochs=1)],
                     data_version="v1").run(tmp_path / "mine")
    assert again.stages[0].cached
    with torch.no_grad():
        module[0].weight.add_(0.01)  # changed weights must never hit the old cache
    changed = Pipeline(model=module, data=data, measure=TINY_MEASURE, stages=[stages.Train(epochs=1)],
                       data_version="v1").run(tmp_path / "mine")
    assert not changed.stages[0].cached
    bumped = Pipeline(model=module, data=data, measure=TINY_MEASURE, stages=[stages.Train(epochs=1)],
                      data_version="v2").run(tmp_path / "mine")
    assert not bumped.stages[0].cached


def test_in_memory_data_without_a_version_tag_disables_caching_with_a_notice(tmp_path, capsys):
    run = lambda: Pipeline(model=user_net(), data=(Blobs(64, 0), Blobs(32, 1)),  # noqa: E731
                           measure=TINY_MEASURE, stages=[stages.Train(epochs=1)]).run(tmp_path / "nov")
    run()
    second = run()
    assert not second.stages[0].cached
    assert "caching is off" in capsys.readouterr().out


class Scale(StageConfig):
    """Multiply the classifier's weights by a factor (a test stage)."""

    factor: float = 1.0


def scale(model: nn.Module, cfg: Scale, ctx) -> StageResult:
    """Scale the last layer's weights."""
    with torch.no_grad():
        [m for m in model.modules() if isinstance(m, nn.Linear)][-1].weight.mul_(cfg.factor)
    return StageResult(model, {"factor": cfg.factor})


@pytest.fixture
def scale_stage(temporary_stages):
    temporary_stages("scale_test")(scale)  # the config class comes from the annotation


def test_custom_stage_works_from_python_yaml_and_compress_stages(tiny, tmp_path, scale_stage):
    result = Pipeline(model={"arch": "resnet20", "kwargs": {"width": 8}}, data=tiny()["data"], measure=TINY_MEASURE,
                      stages=[stages.Train(epochs=1), Scale(factor=2.0)]).run(tmp_path / "custom")
    assert result.metrics["scale_test"].extra.factor == 2.0
    assert result.metrics["scale_test"].accuracy.top1 is not None
    yaml_run = run_recipe(parse_recipe(tiny(stages=[{"train": {"epochs": 1}}, {"scale_test": {"factor": 3}}])))
    assert yaml_run.metrics["scale_test"].extra.factor == 3.0
    listing = CliRunner().invoke(main, ["stages"])
    assert "scale_test: Scale the last layer's weights." in listing.output


def test_duplicate_stage_names_are_refused(scale_stage):
    with pytest.raises(ValueError, match="already registered"):
        register_stage("scale_test")(scale)


def test_a_stage_function_without_a_config_annotation_is_refused():
    def bare(model, cfg, ctx):
        return StageResult(model)

    with pytest.raises(TypeError, match="annotate"):
        register_stage("bare_test")(bare)


def test_pipeline_checks_the_stage_chain_before_running():
    with pytest.raises(RecipeError, match="needs a torch model"):
        Pipeline(model={"arch": "seed_cnn"}, stages=[stages.Quantize(), stages.Train(epochs=1)])


def test_docs_recipe_reference_is_current():
    committed = (Path(__file__).parents[3] / "docs" / "recipes.md").read_text()
    generated = subprocess.run([sys.executable, "-m", "toolkit", "stages", "--markdown"], capture_output=True,
                               text=True, check=True).stdout
    assert committed == generated, "docs/recipes.md is stale: run `compress stages --markdown > docs/recipes.md`"


def test_a_second_api_run_of_the_same_pipeline_is_cached(tiny, tmp_path):
    from torch import nn

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, 4))
    pipe = Pipeline(model=net, data=tiny()["data"], measure={"runtimes": ["torch-cpu"], "batch_sizes": [1],
                                                             "min_iters": 2, "warmup_s": 0, "min_time_s": 0},
                    stages=[stages.Train(epochs=1)])
    pipe.run(tmp_path / "twice")
    assert pipe.run(tmp_path / "twice").stages[0].cached


def test_a_torchvision_kwargs_typo_is_a_clear_error(tiny):
    from toolkit.errors import UserInputError

    raw = tiny(model={"arch": "resnet18", "kwargs": {"widht": 2}})
    with pytest.raises(UserInputError, match="model.kwargs"):
        run_recipe(parse_recipe(raw))
