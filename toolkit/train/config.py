"""The train stage's options (no torch: recipes validate without it)."""

from __future__ import annotations

from toolkit.train.options import TrainingOptions


class Train(TrainingOptions):
    """Train the model on the recipe's data: SGD or AdamW, cosine or one-cycle, checkpointed every epoch."""
