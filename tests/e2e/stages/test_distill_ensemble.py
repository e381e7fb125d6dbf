"""Distillation from an ensemble: `teacher` as a list of references, whose mean logits teach."""

from __future__ import annotations

import pytest
import torch

from toolkit.errors import RecipeError
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe


def test_the_ensemble_teacher_returns_its_members_mean_logits():
    from toolkit.distill.teacher import EnsembleTeacher

    members = [torch.nn.Linear(6, 3) for _ in range(3)]
    x = torch.randn(5, 6)
    expected = sum(m(x) for m in members) / 3
    assert torch.allclose(EnsembleTeacher(members)(x), expected, atol=1e-6)


def test_an_ensemble_of_stages_and_a_checkpoint_teaches_and_is_recorded(tiny, tmp_path, monkeypatch):
    import toolkit.distill.stage as distill_stage
    from toolkit.config import ModelSpec
    from toolkit.models import build_model

    spec = ModelSpec(arch="resnet20", kwargs={"width": 8})
    torch.save(build_model(spec, 4, 16).state_dict(), tmp_path / "other.pt")
    seen = []
    real = distill_stage.teacher_logits_fn
    monkeypatch.setattr(distill_stage, "teacher_logits_fn",
                        lambda teacher, *a: seen.append(teacher) or real(teacher, *a))
    raw = tiny(stages=[{"train": {"name": "a", "epochs": 1}}, {"train": {"name": "b", "epochs": 1}},
                       {"distill": {"epochs": 1, "teacher": [
                           "a", 1, {"arch": "resnet20", "kwargs": {"width": 8}, "checkpoint": "other.pt"}]}}])
    result = run_recipe(parse_recipe(raw, base_dir=tmp_path))
    teacher = result.stages[-1].metrics["extra"]["teacher"]
    assert teacher[:2] == ["a", 1] and teacher[2]["arch"] == "resnet20"
    assert len(seen[0].members) == 3  # one EnsembleTeacher of the three members
    x = torch.randn(2, 3, 16, 16)
    members = [result.model("a"), result.model("b")]
    with torch.no_grad():
        for got, want in zip(seen[0].members[:2], members):
            assert torch.allclose(got.eval()(x), want.eval()(x), atol=1e-5)


def test_changing_one_member_changes_the_distill_key(tiny, tmp_path):
    def key(members):
        raw = tiny(stages=[{"train": {"name": "a", "epochs": 1}}, {"train": {"name": "b", "epochs": 1}},
                           {"distill": {"teacher": members, "epochs": 1}}])
        recipe = parse_recipe(raw)
        return recipe.stages[2].facts_key()

    assert key(["a", "b"]) != key(["a", "input"])
    assert key("a") == {"teacher_stage": 0, "teacher_checkpoint_sha256": None}  # a single teacher's key as before
    assert key(["a", "b"]) != key(["b", "a"])  # the order is part of the key (members run in order)


@pytest.mark.parametrize(("teacher", "field", "says"), [
    (["a"], "stages[1].distill.teacher", "at least two teachers"),
    (["a", "nope"], "stages[1].distill.teacher[1]", "no earlier stage named 'nope'"),
    (["a", {"arch": "resnet20", "bogus": 1}], "stages[1].distill.teacher[1]", "not a model spec"),
    (["a", ["a", "input"]], "stages[1].distill.teacher[1]", "a stage name"),
    (["a", "input", 0], "stages[1].distill.teacher[2]", "the same model as teacher[0]"),
    (["a", {"arch": "resnet20", "checkpoint": "missing.pt"}], "stages[1].distill.teacher[1].checkpoint",
     "no such file"),
])
def test_bad_ensembles_are_refused_naming_the_member(tiny, tmp_path, teacher, field, says):
    raw = tiny(stages=[{"train": {"name": "a", "epochs": 1}}, {"distill": {"teacher": teacher, "epochs": 1}}])
    with pytest.raises(RecipeError) as info:
        parse_recipe(raw, base_dir=tmp_path)
    problems = dict(info.value.problems)
    assert field in problems, problems
    assert says in problems[field]


def test_qat_distils_from_an_explicit_ensemble_of_stages(tiny):
    raw = tiny(stages=[{"train": {"name": "a", "epochs": 1}}, {"train": {"name": "b", "epochs": 1}},
                       {"quantize": {"scheme": "cpu", "qat": {"epochs": 1, "teacher": ["a", "b"]}}}])
    result = run_recipe(parse_recipe(raw))
    assert result.stages[-1].metrics["extra"]["teacher"] == ["a", "b"]


@pytest.mark.parametrize(("teacher", "field", "says"), [
    (["a"], "stages[1].quantize.qat.teacher", "at least two teacher stages"),
    (["a", {"arch": "resnet20"}], "stages[1].quantize.qat.teacher[1]", "an earlier stage's name or index"),
    ({"arch": "resnet20"}, "stages[1].quantize.qat.teacher", "teaches QAT through a distill stage"),
    (["a", "nope"], "stages[1].quantize.qat.teacher[1]", "no earlier stage named 'nope'"),
    (["a", 0], "stages[1].quantize.qat.teacher[1]", "the same model as qat.teacher[0]"),
])
def test_bad_qat_ensembles_are_one_clear_problem_naming_the_member(tiny, teacher, field, says):
    raw = tiny(stages=[{"train": {"name": "a", "epochs": 1}},
                       {"quantize": {"scheme": "cpu", "qat": {"epochs": 1, "teacher": teacher}}}])
    with pytest.raises(RecipeError) as info:
        parse_recipe(raw)
    problems = dict(info.value.problems)
    assert list(problems) == [field], problems
    assert says in problems[field]
