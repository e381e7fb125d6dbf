"""The distill stage's options (no torch: recipes validate without it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_serializer

from toolkit.artifacts import TORCH
from toolkit.config import ModelSpec, StageFacts, StrictModel
from toolkit.fsutil import resolved_from
from toolkit.registry import did_you_mean
from toolkit.train.options import TrainingOptions


def check_teacher_ref(field: str, ref: str | int | None, earlier: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """(field, problem) when `ref` (an earlier stage's name or 0-based index, 'input' or None) does not name an
    earlier stage that produced a torch model; `earlier` is (name, type, format) of the preceding stages.
    Shared by distill.teacher and quantize.qat.teacher."""
    names = [n for n, _, _ in earlier]
    if ref is None or ref == "input":  # the default teacher or the input model: always there
        return []
    if isinstance(ref, int):
        if not 0 <= ref < len(earlier):
            return [(field, f"stage index {ref} is not an earlier stage (0..{len(earlier) - 1})")]
        name, _, fmt = earlier[ref]
    elif ref not in names:
        return [(field, f"no earlier stage named '{ref}'{did_you_mean(ref, names)}; earlier: {names}")]
    else:
        name, _, fmt = earlier[names.index(ref)]
    if fmt != TORCH:
        return [(field, f"stage '{name}' produced {fmt}; a teacher must be a torch model")]
    return []


def teacher_position(ref: Any, recipe) -> int | str | list | None:
    """The recipe index a teacher name refers to (so that renaming stages changes a distill stage's key); for an
    ensemble, each member's."""
    if isinstance(ref, list):
        return [teacher_position(member, recipe) for member in ref]
    if isinstance(ref, str) and ref != "input":
        return next((i for i, s in enumerate(recipe.stages) if s.name == ref), ref)
    return ref


TeacherRef = str | int | ModelSpec  # an earlier stage's name or 0-based index, 'input', or a model spec


def repeated_teachers(field: str, refs: list[Any], earlier: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """(field, problem) for each ensemble member that names the same model as an earlier member (a stage by
    name or by index, or an equal model spec): it would cost a forward pass and teach nothing new."""
    def identity(ref: Any) -> Any:
        if isinstance(ref, ModelSpec):
            return ("spec", repr(ref.model_dump(mode="json")))
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < len(earlier):
            return ("stage", earlier[ref][0])
        return ("stage", ref)

    seen: dict[Any, int] = {}
    problems = []
    for i, ref in enumerate(refs):
        key = identity(ref)
        if key in seen:
            problems.append((f"{field}[{i}]", f"names the same model as {field}[{seen[key]}]; an ensemble's members "
                                              f"must differ"))
        seen.setdefault(key, i)
    return problems


class FeaturePair(StrictModel):
    """A hint: match the student's module output to the teacher's (1x1 adapter where channels differ)."""

    student: str
    teacher: str


class DistillFacts(StageFacts):
    """Which model teaches, as the cache key needs it: an earlier stage by recipe position (or its name where
    none matches, 'input', or null for the default teacher), or the content of a checkpoint file."""

    teacher_stage: int | str | None = None
    teacher_checkpoint_sha256: str | None = None
    members: list[DistillFacts] | None = None  # an ensemble: each member's facts, in order

    @model_serializer(mode="wrap")
    def _members_only_for_an_ensemble(self, handler: Any) -> dict[str, Any]:
        # a single teacher's key stays what it was before ensembles existed, so run folders made then are reused
        data = handler(self)
        if data.get("members") is None:
            data.pop("members", None)
        return data


class Distill(TrainingOptions):
    """Knowledge distillation from a teacher: an earlier stage (name or index) or an external model spec."""

    teacher: TeacherRef | list[TeacherRef] | None = Field(
        None, description="earlier stage name or index, 'input', or {arch, checkpoint|weights}; a list of them: an "
                          "ensemble whose averaged logits teach; null: the last model before the first prune stage")
    temperature: float = Field(4.0, gt=0.0, le=100.0)
    alpha: float = Field(0.9, ge=0.0, le=1.0, description="weight of the soft-target (KL) term")
    features: list[FeaturePair] = Field(default_factory=list, description="feature-hint pairs")
    feature_weight: float = Field(1.0, ge=0.0, description="weight of the feature-hint MSE")
    cache_teacher: bool = Field(False, description="compute teacher logits once (needs augmentation off)")
    teacher_fp16: bool = Field(True, description="run the teacher in fp16 on CUDA")

    @field_validator("teacher", mode="before")
    @classmethod
    def _teacher_spec(cls, value: Any) -> Any:
        if isinstance(value, list):
            if len(value) < 2:
                raise ValueError("an ensemble lists at least two teachers; give a single one without the list")
            return [_teacher_ref(item, f"[{i}]") for i, item in enumerate(value)]
        return _teacher_ref(value, "")

    def teacher_refs(self) -> list[tuple[str, TeacherRef | None]]:
        """(field name for messages, reference) of each teacher: one, or each member of an ensemble."""
        if isinstance(self.teacher, list):
            return [(f"teacher[{i}]", ref) for i, ref in enumerate(self.teacher)]
        return [("teacher", self.teacher)]

    def resolve_paths(self, base_dir: Path) -> list[tuple[str, str]]:
        """A teacher checkpoint and its model file ('module:function' beside the recipe) are relative to the
        recipe's folder."""
        problems = []
        for field, spec in self.teacher_refs():
            if not isinstance(spec, ModelSpec):
                continue
            from toolkit.models.user_code import resolve_code_dir

            resolve_code_dir(spec, base_dir)
            if spec.checkpoint is not None:
                where = resolved_from(spec.checkpoint, base_dir)
                if not Path(spec.checkpoint).is_absolute():
                    spec.checkpoint = (base_dir / spec.checkpoint).resolve()
                if not Path(spec.checkpoint).is_file():
                    problems.append((f"{field}.checkpoint", f"no such file: {spec.checkpoint}{where}"))
        return problems

    def resolve(self, recipe) -> DistillFacts | None:
        """Which model teaches: an earlier stage by position (names are not in keys), or a checkpoint's content;
        for an ensemble, that of each member."""
        if isinstance(self.teacher, list):
            return DistillFacts(members=[_teacher_facts(ref, recipe) or DistillFacts() for ref in self.teacher])
        return _teacher_facts(self.teacher, recipe)

    def check_chain(self, earlier: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """Each teacher must be an earlier stage that produced a torch model (or a buildable model spec)."""
        problems = []
        for field, ref in self.teacher_refs():
            if isinstance(ref, ModelSpec):
                from toolkit.models import check_arch

                problem = check_arch(ref.arch, ref.code_dir)
                problems += [(f"{field}.arch", problem)] if problem else []
            else:
                problems += check_teacher_ref(field, ref, earlier)
        if isinstance(self.teacher, list):
            problems += repeated_teachers("teacher", self.teacher, earlier)
        return problems


def _teacher_ref(value: Any, where: str) -> Any:
    """One teacher reference as the field accepts it; a dict is validated here so that errors name the spec's
    keys (and the member, `where`), not the union's members."""
    if isinstance(value, dict):
        try:
            return ModelSpec.model_validate(value)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{where and where + ': '}not a model spec ({detail})") from None
    if isinstance(value, bool) or (where and (value is None or isinstance(value, list))):
        raise ValueError(f"{where and where + ': '}a stage name, a stage index, 'input' or a model spec")
    return value


def _teacher_facts(spec: TeacherRef | None, recipe) -> DistillFacts | None:
    """One teacher's part of the cache key: its checkpoint's content, or its recipe position."""
    if isinstance(spec, ModelSpec) and spec.checkpoint is not None and Path(spec.checkpoint).is_file():
        from toolkit.fsutil import file_hash

        return DistillFacts(teacher_checkpoint_sha256=file_hash(Path(spec.checkpoint)))
    if recipe is None:
        return None
    position = teacher_position(spec, recipe)
    return DistillFacts(teacher_stage=position if not isinstance(position, ModelSpec) else None)
