"""Run folders beside each other share stages with the same content key instead of recomputing them."""

from __future__ import annotations

import json
import os

import pytest

from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe


def _recipe(tiny, name, second_lr):
    raw = tiny(name=name, stages=[{"train": {"epochs": 1}},
                                  {"train": {"name": "finetune", "epochs": 1, "lr": second_lr}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    return parse_recipe(raw)


@pytest.mark.slow
def test_a_renamed_run_reuses_the_unchanged_stages_of_its_sibling(tiny, count_fits):
    first = run_recipe(_recipe(tiny, "base", 0.01))
    assert count_fits == ["train", "finetune"]
    second = run_recipe(_recipe(tiny, "variant", 0.001))  # same train stage, other fine-tune
    assert count_fits == ["train", "finetune", "finetune"]  # the train stage was not computed again
    assert [s.cached for s in second.stages] == [True, False]
    shared, source = second.run_dir / "01-train", first.run_dir / "01-train"
    metrics = json.loads((shared / "metrics.json").read_text())
    assert metrics["shared_from"] == "base/01-train"
    assert metrics["key"] == json.loads((source / "metrics.json").read_text())["key"]
    weights = next(p.name for p in source.iterdir() if p.suffix == ".safetensors")
    assert os.path.samefile(shared / weights, source / weights)  # linked, not copied
    assert not os.path.samefile(shared / "log.txt", source / "log.txt")  # appended to: a copy
    assert "reused" in (shared / "log.txt").read_text() and "reused" not in (source / "log.txt").read_text()
    first_again = run_recipe(_recipe(tiny, "base", 0.01))  # the source run is still whole and cached
    assert all(s.cached for s in first_again.stages) and count_fits == ["train", "finetune", "finetune"]


@pytest.mark.slow
def test_fresh_runs_do_not_reuse_other_runs(tiny, count_fits):
    run_recipe(_recipe(tiny, "base", 0.01))
    run_recipe(_recipe(tiny, "other", 0.01), fresh=True)
    assert count_fits == ["train", "finetune", "train", "finetune"]
