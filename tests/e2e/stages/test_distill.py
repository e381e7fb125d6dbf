"""Distillation: the loss formula, teacher references, feature hints, cached teacher logits, chain checks."""

from __future__ import annotations

import math

import pytest
import torch

from toolkit.distill.kd import kd_loss
from toolkit.errors import RecipeError, UserInputError
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe


def test_kd_loss_equals_the_formula_on_hand_computed_logits():
    student = torch.tensor([[2.0, 0.0, -1.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0]])
    label, t, alpha = torch.tensor([0]), 2.0, 0.7

    def softmax(z):
        e = [math.exp(v / t) for v in z]
        return [v / sum(e) for v in e]

    p_s, p_t = softmax(student[0].tolist()), softmax(teacher[0].tolist())
    kl = sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s))
    ce = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(0.0) + math.exp(-1.0)))
    expected = alpha * t * t * kl + (1 - alpha) * ce
    assert kd_loss(student, teacher, label, t, alpha).item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_is_plain_cross_entropy_at_alpha_zero():
    student, teacher, labels = torch.randn(4, 5), torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    assert torch.allclose(kd_loss(student, teacher, labels, 4.0, 0.0),
                          torch.nn.functional.cross_entropy(student, labels))


def chain(tiny, distill, first=None):
    stages = [{"train": {"epochs": 1}}, {"prune": {"target": {"ratio": 0.5}, "round_to": None}},
              {"distill": {"epochs": 1, **distill}}]
    return tiny(stages=stages if first is None else first + stages[1:])


@pytest.mark.parametrize("teacher", ["train", 0, None])
def test_teacher_by_name_index_or_default(tiny, teacher):
    result = run_recipe(parse_recipe(chain(tiny, {"teacher": teacher})))
    assert result.stages[-1].metrics["extra"]["teacher"] in ("train", 0)
    # it ran; a tiny pruned student is at chance after one epoch, so `degraded` is the honest verdict
    assert result.stages[-1].metrics["status"] in ("ok", "degraded")


def test_bad_teacher_references_are_schema_errors_naming_the_path(tiny):
    with pytest.raises(RecipeError) as info:
        parse_recipe(chain(tiny, {"teacher": "trian"}))
    assert "stages[2].distill.teacher" in dict(info.value.problems)
    assert "did you mean 'train'" in str(info.value)
    with pytest.raises(RecipeError, match="stages\\[2\\].distill.teacher"):
        parse_recipe(chain(tiny, {"teacher": 5}))
    with pytest.raises(RecipeError, match="not a model spec"):
        parse_recipe(chain(tiny, {"teacher": {"arch": "resnet20", "bogus": 1}}))


def test_external_teacher_from_a_spec_and_checkpoint(tiny, tmp_path):
    from toolkit.config import ModelSpec
    from toolkit.models import build_model

    spec = ModelSpec(arch="resnet20", kwargs={"width": 8})
    torch.save(build_model(spec, 4).state_dict(), tmp_path / "teacher.pt")
    raw = chain(tiny, {"teacher": {"arch": "resnet20", "kwargs": {"width": 8}, "checkpoint": "teacher.pt"}})
    recipe = parse_recipe(raw, base_dir=tmp_path)
    result = run_recipe(recipe)
    assert result.stages[-1].metrics["extra"]["teacher"]["arch"] == "resnet20"


def test_feature_hints_bridge_mismatched_channels(tiny):
    raw = chain(tiny, {"features": [{"student": "layer3", "teacher": "layer3"},
                                    {"student": "layer2.0.conv1", "teacher": "layer2.0.conv1"}]})
    result = run_recipe(parse_recipe(raw))
    student = result.model("distill")
    teacher = result.model("train")
    assert student.layer2[0].conv1.out_channels != teacher.layer2[0].conv1.out_channels
    assert result.stages[-1].metrics["extra"]["feature_pairs"] == 2


def test_unknown_feature_module_is_a_clear_error(tiny):
    with pytest.raises(UserInputError, match="features"):
        run_recipe(parse_recipe(chain(tiny, {"features": [{"student": "nope", "teacher": "layer3"}]})))


def test_cached_teacher_logits_need_unaugmented_training(tiny):
    result = run_recipe(parse_recipe(chain(tiny, {"cache_teacher": True, "augment": False})))
    assert result.stages[-1].metrics["extra"]["teacher_cached"] is True
    raw = chain(tiny, {"cache_teacher": True})
    raw["data"]["augment"] = {"crop": "pad", "padding": 2, "flip": True}
    with pytest.raises(UserInputError, match="cache_teacher"):
        run_recipe(parse_recipe(raw))


def test_distill_cannot_follow_a_stage_that_made_only_onnx(tiny, temporary_stages):
    from toolkit.artifacts import ONNX
    from toolkit.config import StageConfig
    from toolkit.context import StageResult

    class OnnxOnly(StageConfig):
        """Makes ONNX (test)."""

    temporary_stages("onnx_only_test", OnnxOnly, makes=ONNX)(lambda m, c, x: StageResult(m))
    with pytest.raises(RecipeError) as info:
        parse_recipe(tiny(stages=[{"onnx_only_test": {}}, {"distill": {"teacher": "input"}}]))
    problems = dict(info.value.problems)
    assert "needs a torch model" in problems["stages[1].distill"]


def test_the_default_teacher_of_a_recipe_that_starts_by_pruning_is_the_input_model(tiny):
    raw = tiny(stages=[{"prune": {"target": {"ratio": 0.3}, "round_to": None}}, {"distill": {"epochs": 1}}])
    result = run_recipe(parse_recipe(raw))
    assert result.metrics["distill"].extra.teacher == "input"


def test_renaming_the_teacher_stage_changes_the_distill_key(tiny):
    def key(names):
        raw = tiny(stages=[{"train": {"name": names[0], "epochs": 1}}, {"train": {"name": names[1], "epochs": 1}},
                           {"distill": {"teacher": "a", "epochs": 1}}])
        recipe = parse_recipe(raw)
        return recipe.stages[2].resolve(recipe)

    assert key(["a", "b"]) != key(["b", "a"])
