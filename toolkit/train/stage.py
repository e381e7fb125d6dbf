"""The train stage: fit the model on the recipe's data (usually the baseline)."""

from __future__ import annotations

from torch import nn

from toolkit.artifacts import TORCH
from toolkit.context import StageContext, StageResult
from toolkit.registry import register_stage
from toolkit.train.loop import fit
from toolkit.train.options import TrainingOptions


class Train(TrainingOptions):
    """Train the model on the recipe's data: SGD or AdamW, cosine or one-cycle, checkpointed every epoch."""


@register_stage("train", Train, needs=(TORCH,), makes=TORCH)
def train(model: nn.Module, cfg: Train, ctx: StageContext) -> StageResult:
    """Train the model on the recipe's data (resumes from the last epoch checkpoint)."""
    return StageResult(model, fit(model, cfg, ctx, tag="train"))
