"""The distill stage: train the current (pruned) model as a student of a teacher."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from toolkit.config import ModelSpec
from toolkit.context import StageContext, StageResult
from toolkit.distill.config import Distill, TeacherRef
from toolkit.distill.kd import FeatureHints, kd_loss
from toolkit.distill.teacher import load_teacher, teacher_logits_fn, teacher_record
from toolkit.errors import UserInputError
from toolkit.train.loop import fit


def stage_teacher(ref: TeacherRef | list[TeacherRef] | None, ctx: StageContext) -> nn.Module:
    """load_teacher with this run's earlier stages and input model."""
    return load_teacher(ref, ctx.earlier, ctx.input_spec or ModelSpec(**ctx.model_spec["model"]),
                        ctx.data.num_classes, ctx.data.input_shape)


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
    metrics: dict[str, Any] = fit(model, cfg, ctx.training_env(), loss_fn=loss_fn,
                                  extra_modules=hints.adapters if hints else None, tag="distill")
    metrics["teacher"] = teacher_record(cfg.teacher, ctx.earlier)
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
