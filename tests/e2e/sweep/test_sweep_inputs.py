"""`compress sweep` refuses bad input before any compute: exit 2, one line naming the field or the URL, no
traceback (in-process through click: nothing here trains)."""

from __future__ import annotations

import copy

import pytest
import yaml
from click.testing import CliRunner

from toolkit.cli.main import main

GOOD = {"dimensions": {"stages.1.prune.target.ratio": [0.1, 0.25]},
        "objectives": {"top1": "max", "p50": {"runtime": "onnxruntime-cpu", "batch_size": 1}}}


def sweep_recipe(tiny, tmp_path, sweep, name="recipe.yaml", **changes):
    """A tiny train + prune recipe with this sweep section, written to tmp_path/name."""
    raw = tiny(stages=[{"train": {"epochs": 1}}, {"prune": {"target": {"ratio": 0.5}, "finetune_epochs": 0,
                                                           "round_to": None}}], **changes)
    raw["measure"]["runtimes"] = ["onnxruntime-cpu"]
    raw["sweep"] = sweep
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def refused(args: list[str], *expected: str) -> str:
    result = CliRunner().invoke(main, ["sweep", *args])
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    for part in expected:
        assert part in text, text
    return text


def _with(**changes):
    section = copy.deepcopy(GOOD)
    section.update(changes)
    return section


CASES = {
    "unknown path": (_with(dimensions={"stages.1.prune.target.bogus": [1]}),
                     "sweep.dimensions.stages.1.prune.target.bogus"),
    "no such list item": (_with(dimensions={"stages.5.prune.target.ratio": [0.1]}),
                          "sweep.dimensions.stages.5.prune.target.ratio"),
    "wrong type": (_with(dimensions={"stages.1.prune.target.ratio": [0.1, "abc"]}),
                   "sweep.dimensions.stages.1.prune.target.ratio", "'abc'"),
    "out of range": (_with(dimensions={"stages.1.prune.target.ratio": [0.1, 1.5]}),
                     "sweep.dimensions.stages.1.prune.target.ratio", "1.5"),
    "empty dimension": (_with(dimensions={"stages.1.prune.target.ratio": []}),
                        "sweep.dimensions.stages.1.prune.target.ratio", "empty"),
    "range on a name": (_with(dimensions={"stages.1.prune.method": {"low": 1, "high": 2}}, sampler="tpe", trials=2),
                        "sweep.dimensions.stages.1.prune.method", "numeric"),
    "grid with a range": (_with(dimensions={"stages.1.prune.target.ratio": {"low": 0.1, "high": 0.3}},
                                sampler="grid", trials=2), "sweep.sampler"),
    "range without trials": (_with(dimensions={"stages.1.prune.target.ratio": {"low": 0.1, "high": 0.3}}),
                             "sweep.trials"),
    "runtime not measured": (_with(objectives={"top1": "max", "p50": {"runtime": "torch-cpu"}}),
                             "sweep.objectives.p50.runtime", "measure.runtimes"),
    "unknown sweep key": (_with(trails=3), "sweep.trails"),
    "more trials than the grid": (_with(trials=5), "sweep.trials"),
    "the sweep's own key": (_with(dimensions={"name": ["a", "b"]}), "sweep.dimensions.name"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_sweep_section_is_one_line_naming_the_field(tiny, tmp_path, case):
    section, *expected = CASES[case]
    path = sweep_recipe(tiny, tmp_path, section)
    refused([str(path)], *expected)
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_a_recipe_without_a_sweep_section_is_refused(tiny, tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    refused([str(path)], "sweep")


@pytest.mark.parametrize("url, workers, expected", [
    ("postgresql://u@h:notaport/db", 1, "not a database URL"),
    ("redis://localhost/0", 1, "postgresql://"),
    ("sqlite:///study.db", 2, "not offered for parallel workers"),
    ("postgresql://nobody:secret@127.0.0.1:1/db", 1, "127.0.0.1:1"),  # unreachable (or its driver missing)
])
def test_a_bad_storage_url_is_one_line_naming_it(tiny, tmp_path, url, workers, expected):
    path = sweep_recipe(tiny, tmp_path, GOOD)
    text = refused([str(path), "--storage", url, "--workers", str(workers)], "--storage", expected)
    assert "secret" not in text  # the password is never shown


def test_a_study_of_another_recipe_is_refused_and_status_needs_a_sweep(tiny, tmp_path):
    from toolkit.sweep.spec import load_sweep
    from toolkit.sweep.storage import open_storage, open_study

    path = sweep_recipe(tiny, tmp_path, GOOD)
    refused([str(path), "--status"], "no sweep yet")
    plan = load_sweep(path)
    open_study(plan, open_storage(None, plan.sweep_dir))  # the study of this recipe, no trial run
    sweep_recipe(tiny, tmp_path, GOOD, seed=1)  # the same name and output, another recipe
    refused([str(path)], "belongs to another recipe")
    refused([str(path), "--status"], "belongs to another recipe")


def test_trials_may_change_without_making_it_another_study(tiny, tmp_path):
    from toolkit.sweep.spec import load_sweep

    first = load_sweep(sweep_recipe(tiny, tmp_path, GOOD, name="a.yaml"))
    second = load_sweep(sweep_recipe(tiny, tmp_path, _with(trials=1), name="b.yaml"))
    assert first.fingerprint == second.fingerprint and (first.budget, second.budget) == (2, 1)


def test_recommended_is_the_fastest_pareto_trial_within_the_accuracy_budget():
    from toolkit.sweep.results import recommend
    from toolkit.sweep.spec import Objective

    objectives = [Objective("top1", "maximize"), Objective("p50", "minimize", "onnxruntime-cpu", 1)]
    label = objectives[1].label
    rows = [{"number": n, "pareto": p, "values": {"top1": a, label: ms}}
            for n, p, a, ms in [(0, True, 0.90, 3.0), (1, True, 0.895, 2.0), (2, True, 0.80, 1.0),
                                (3, False, 0.70, 2.5)]]
    assert recommend(rows, objectives, max_drop=1.0) == 1  # 0.5 points below the best, faster
    assert recommend(rows, objectives, max_drop=0.1) == 0
    assert recommend(rows, objectives, max_drop=20.0) == 2
    assert recommend([dict(r, pareto=False) for r in rows], objectives, 1.0) is None


def test_validate_checks_a_sweep_recipe_whole_and_run_points_to_compress_sweep(tiny, tmp_path):
    path = sweep_recipe(tiny, tmp_path, GOOD)
    ok = CliRunner().invoke(main, ["validate", "--schema-only", str(path)])
    assert ok.exit_code == 0 and "sweep: 2 trial(s) over stages.1.prune.target.ratio" in ok.output, ok.output
    bad = sweep_recipe(tiny, tmp_path, _with(dimensions={"stages.1.prune.target.ratio": [0.1, 1.5]}), "bad.yaml")
    refused_validate = CliRunner().invoke(main, ["validate", "--schema-only", str(bad)])
    assert refused_validate.exit_code == 2 and "stages[1].prune.target.ratio" in refused_validate.output
    assert "Traceback" not in refused_validate.output
    run = CliRunner().invoke(main, ["run", str(path)])
    assert run.exit_code == 2 and "compress sweep RECIPE" in run.output and "Traceback" not in run.output
