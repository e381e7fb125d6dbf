"""The contract every registered stage keeps, tested over the registry: a stage added later is tested the moment
it registers (its config round-trips through JSON, its defaults validate, the recipe reference documents it, and
it runs on a tiny model after a short train stage, or says why it was skipped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import RecipeError
from toolkit.recipe import parse_recipe
from toolkit.stages import get_stage, stage_names

DOCS = Path(__file__).resolve().parents[3] / "docs" / "recipes.md"
STAGES = stage_names()


@pytest.mark.parametrize("name", STAGES)
def test_a_stage_config_round_trips_through_json_and_its_defaults_validate(name):
    config_cls = get_stage(name).config_cls
    default = config_cls()
    again = config_cls.model_validate_json(default.model_dump_json())
    assert again == default
    assert again.stage_type == name


@pytest.mark.parametrize("name", STAGES)
def test_the_recipe_reference_documents_every_stage(name):
    assert f"## `{name}`" in DOCS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def shared_output(tmp_path_factory) -> Path:
    """One output folder for every stage's tiny run, so that their identical train stage runs once."""
    return tmp_path_factory.mktemp("contract-runs")


def _chain(name: str, tiny, output: Path) -> dict:
    """A tiny recipe that ends in stage `name` with its defaults, after whatever its chain check asks for."""
    head = [] if name == "train" else [{"train": {"epochs": 2, "lr": 0.05}}]
    # the defaults, except that a training stage trains one epoch (its defaults suit real data sets)
    options = {"epochs": 1} if "epochs" in get_stage(name).config_cls.model_fields else {}
    for middle in ([], [{"quantize": {"calibration": {"samples": 32}}}]):
        # width 16: the prune defaults (2x MACs in channel multiples of 8) cannot be met on width 8
        raw = tiny(stages=head + middle + [{name: options}], model={"arch": "resnet20", "kwargs": {"width": 16}},
                   name=f"contract-{name}", output=str(output))
        try:
            parse_recipe(raw)
            return raw
        except RecipeError as exc:
            problem = exc
    pytest.skip(f"no tiny chain reaches stage {name} with its defaults: {problem}")


@pytest.mark.slow
@pytest.mark.parametrize("name", STAGES)
def test_every_stage_runs_on_a_tiny_model_or_says_why_it_was_skipped(name, tiny, shared_output):
    from toolkit.run.pipeline import run_recipe

    run = run_recipe(parse_recipe(_chain(name, tiny, shared_output)))
    last = run.stages[-1]
    assert last.type == name
    if last.status == "skipped":
        assert last.reason, f"stage {name} was skipped without a reason"
        pytest.skip(f"{name}: {last.reason}")
    assert last.status in ("ok", "degraded"), (last.status, last.reason)  # degraded: it ran, and lost accuracy
    assert last.metrics["model"]["format"] == (get_stage(name).makes or run.stages[-2].format)
