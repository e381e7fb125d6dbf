"""The train stage: fit the model on the recipe's data (usually the baseline)."""

from __future__ import annotations

from torch import nn

from toolkit.context import StageContext, StageResult
from toolkit.train.config import Train
from toolkit.train.loop import fit


def train(model: nn.Module, cfg: Train, ctx: StageContext) -> StageResult:
    """Train the model on the recipe's data (resumes from the last epoch checkpoint)."""
    return StageResult(model, fit(model, cfg, ctx.training_env(), tag="train"))
