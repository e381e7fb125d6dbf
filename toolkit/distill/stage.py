"""The distill stage: train the current (pruned) model as a student of a teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import Field, ValidationError, field_validator
from torch import nn

from toolkit.artifacts import TORCH
from toolkit.config import ModelSpec, StrictModel
from toolkit.context import StageContext, StageResult
from toolkit.distill.kd import FeatureHints, default_teacher, kd_loss
from toolkit.distill.teacher import load_teacher, teacher_logits_fn, teacher_position
from toolkit.errors import UserInputError
from toolkit.registry import did_you_mean, register_stage
from toolkit.train.loop import fit
from toolkit.train.options import TrainingOptions


class FeaturePair(StrictModel):
    """A hint: match the student's module output to the teacher's (1x1 adapter where channels differ)."""

    student: str
    teacher: str


class Distill(TrainingOptions):
    """Knowledge distillation from a teacher: an earlier stage (name or index) or an external model spec."""

    teacher: str | int | ModelSpec | None = Field(
        None, description="earlier stage name or index, 'input', or {arch, checkpoint|weights}; "
                          "null: the last model before the first prune stage")
    temperature: float = Field(4.0, gt=0.0, le=100.0)
    alpha: float = Field(0.9, ge=0.0, le=1.0, description="weight of the soft-target (KL) term")
    features: list[FeaturePair] = Field(default_factory=list, description="feature-hint pairs")
    feature_weight: float = Field(1.0, ge=0.0, description="weight of the feature-hint MSE")
    cache_teacher: bool = Field(False, description="compute teacher logits once (needs augmentation off)")
    teacher_fp16: bool = Field(True, description="run the teacher in fp16 on CUDA")

    @field_validator("teacher", mode="before")
    @classmethod
    def _teacher_spec(cls, value: Any) -> Any:
        if isinstance(value, dict):  # validated here so that errors name the spec's keys, not union members
            try:
                return ModelSpec.model_validate(value)
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"not a model spec ({detail})") from None
        if isinstance(value, bool):
            raise ValueError("a stage name, a stage index, 'input' or a model spec")
        return value

    def resolve_paths(self, base_dir: Path) -> list[tuple[str, str]]:
        """A teacher checkpoint is relative to the recipe's folder."""
        spec = self.teacher
        if isinstance(spec, ModelSpec) and spec.checkpoint is not None:
            if not Path(spec.checkpoint).is_absolute():
                spec.checkpoint = (base_dir / spec.checkpoint).resolve()
            if not Path(spec.checkpoint).is_file():
                return [("teacher.checkpoint", f"no such file: {spec.checkpoint}")]
        return []

    def key_context(self, recipe) -> dict[str, Any]:
        """Which model teaches: an earlier stage by position (names are not in keys), or a checkpoint's content."""
        spec = self.teacher
        if isinstance(spec, ModelSpec) and spec.checkpoint is not None and Path(spec.checkpoint).is_file():
            from toolkit.fsutil import file_hash

            return {"teacher_checkpoint_sha256": file_hash(Path(spec.checkpoint))}
        return {"teacher_stage": teacher_position(spec, recipe)}

    def check_chain(self, earlier: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """The teacher must be an earlier stage that produced a torch model (or a buildable model spec)."""
        ref = self.teacher
        if isinstance(ref, ModelSpec):
            from toolkit.models import check_arch

            problem = check_arch(ref.arch)
            return [("teacher.arch", problem)] if problem else []
        names = [n for n, _, _ in earlier]
        if ref is None:  # the last torch model before the first prune, else the input model: always there
            return []
        if isinstance(ref, int):
            if not 0 <= ref < len(earlier):
                return [("teacher", f"stage index {ref} is not an earlier stage (0..{len(earlier) - 1})")]
            name, _, fmt = earlier[ref]
        elif ref == "input":
            return []
        elif ref not in names:
            return [("teacher", f"no earlier stage named '{ref}'{did_you_mean(ref, names)}; earlier: {names}")]
        else:
            name, _, fmt = earlier[names.index(ref)]
        if fmt != TORCH:
            return [("teacher", f"stage '{name}' produced {fmt}; a teacher must be a torch model")]
        return []


def stage_teacher(ref: str | int | ModelSpec | None, ctx: StageContext) -> nn.Module:
    """load_teacher with this run's earlier stages and input model."""
    return load_teacher(ref, ctx.earlier, ctx.input_spec or ModelSpec(**ctx.model_spec["model"]),
                        ctx.data.num_classes, ctx.data.image_size)


@register_stage("distill", Distill, needs=(TORCH,), makes=TORCH)
def distill(model: nn.Module, cfg: Distill, ctx: StageContext) -> StageResult:
    """Train the current model as a student of a teacher (KL on softened logits + CE, optional hints)."""
    teacher, teacher_logits = teacher_logits_fn(stage_teacher(cfg.teacher, ctx), ctx.device, cfg.teacher_fp16)
    model.to(ctx.device)  # the hints probe both networks with one input, so both must sit on one device
    hints = None
    if cfg.features:
        try:
            hints = FeatureHints(model, teacher, [(p.student, p.teacher) for p in cfg.features],
                                 ctx.example_input(2).to(next(teacher.parameters()).device))
        except (AttributeError, ValueError) as exc:
            raise UserInputError(f"stages[{ctx.index - 1}].distill.features: {exc}") from None
    cached = _cache(teacher_logits, ctx, cfg) if cfg.cache_teacher else None

    def loss_fn(student: nn.Module, images: torch.Tensor, labels: torch.Tensor, index=None):
        if hints is None:
            z_s = student(images)
            z_t = cached[index.to(cached.device)] if cached is not None else teacher_logits(images)
            return kd_loss(z_s, z_t, labels, cfg.temperature, cfg.alpha, cfg.label_smoothing), z_s
        with hints.capture() as (s_out, t_out):
            z_s = student(images)
            z_t = teacher_logits(images)
            hint = hints.loss(s_out, t_out)
        loss = kd_loss(z_s, z_t, labels, cfg.temperature, cfg.alpha, cfg.label_smoothing) + cfg.feature_weight * hint
        return loss, z_s

    loss_fn.wants_index = cached is not None
    metrics: dict[str, Any] = fit(model, cfg, ctx, loss_fn=loss_fn, extra_modules=hints.adapters if hints else None,
                                  tag="distill")
    metrics["teacher"] = cfg.teacher.model_dump(mode="json") if isinstance(cfg.teacher, ModelSpec) else (
        cfg.teacher if cfg.teacher is not None else default_teacher(
            [(e.name, e.type, e.format) for e in ctx.earlier if e.index > 0]) or "input")
    metrics.update(temperature=cfg.temperature, alpha=cfg.alpha, teacher_cached=cached is not None,
                   feature_pairs=len(cfg.features))
    return StageResult(model, metrics)


def _cache(teacher_logits, ctx: StageContext, cfg: Distill) -> torch.Tensor:
    """Teacher logits for every train image, computed once (valid only when training sees unaugmented images)."""
    data = ctx.data
    if cfg.augment and data.augment is not None and (data.augment.crop != "none" or data.augment.flip):
        raise UserInputError(f"stages[{ctx.index - 1}].distill.cache_teacher: training images are augmented, so "
                             f"teacher logits change every epoch; set augment: false or cache_teacher: false")
    if not hasattr(data.train, "images"):
        raise UserInputError(f"stages[{ctx.index - 1}].distill.cache_teacher: needs an in-memory data set")
    order = torch.arange(len(data.train))
    chunks = [teacher_logits(x.to(ctx.device)) for x, _ in
              data.train.batches(order, data.eval_batch_size, data.mean, data.std, None, None)]
    ctx.log.info(f"cached teacher logits for {len(order)} train images")
    return torch.cat(chunks)
