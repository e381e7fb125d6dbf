"""Top-1/top-5 accuracy of any predict function over validation batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn


def evaluate(predict: Callable[[np.ndarray], np.ndarray], batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
             num_classes: int) -> dict[str, Any]:
    """Run `predict` over (images, labels) batches; top-5 is None with fewer than 6 classes.

    `predict` maps images (N, C, H, W) to logits (N, num_classes). Raises ToolkitError when the model has fewer
    outputs than the data has classes (e.g. a run folder measured on other data), KeyboardInterrupt between
    batches once the process was asked to stop."""
    from toolkit.errors import ToolkitError
    from toolkit.measure.interrupts import check

    correct1 = correct5 = total = 0
    k = 5 if num_classes > 5 else None
    for images, labels in batches:
        check()  # an interrupt that native code swallowed stops here, between batches
        logits = np.asarray(predict(images.numpy()))
        if logits.ndim != 2 or logits.shape[1] < num_classes:  # more outputs than classes: argmax still works
            raise ToolkitError(f"the model gives {tuple(logits.shape[1:])} outputs per image, but the data has "
                               f"{num_classes} classes: measure it on the data it was trained for")
        y = labels.numpy()
        correct1 += int((logits.argmax(1) == y).sum())
        if k:
            top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
            correct5 += int((top == y[:, None]).any(1).sum())
        total += len(y)
    if total == 0:
        return {"top1": None, "top5": None, "samples": 0}
    return {"top1": round(correct1 / total, 6), "top5": round(correct5 / total, 6) if k else None,
            "samples": total}


def torch_predict(model: nn.Module, device: torch.device):
    """A numpy-in, numpy-out predict function for a torch model on `device` (fp32, eval)."""
    model = model.to(device).eval()

    def predict(images):
        with torch.inference_mode():
            return model(torch.as_tensor(images).to(device)).float().cpu().numpy()

    return predict
