"""The calibration images a quantize stage feeds ONNX Runtime: how many, in which batches, said out loud."""

from __future__ import annotations

from typing import Any

import torch

from toolkit.context import StageContext
from toolkit.quantize.ptq import HISTOGRAM_METHODS, even_batches


def calibration_input(ctx: StageContext, calib: Any) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """Seeded train images for `calib` (samples, batch_size, method) and what was actually used.

    Returns the batches ((b, C, H, W) float tensors) and facts for the stage's `extra.calibration`:
    samples_used, batch sizes, and `clamped_to_train_split` when the split has fewer images than asked.
    The histogram methods (entropy, percentile) get equal batches; see ptq.even_batches.
    """
    available = len(ctx.data.train)
    used = min(calib.samples, available)
    if used < calib.samples:
        ctx.log.warning(f"calibration: {calib.samples} samples asked but the train split has only {available} "
                        f"images; calibrating on all {available}")
    batches = ctx.data.calibration_batches(used, calib.batch_size, ctx.seed)
    if calib.method in HISTOGRAM_METHODS:
        batches = even_batches(batches, calib.batch_size)
    sizes = sorted({int(b.shape[0]) for b in batches})
    ctx.log.info(f"calibration: {used} train images in {len(batches)} batch(es) of {'/'.join(map(str, sizes))} "
                 f"({calib.method})")
    return batches, {"samples_requested": calib.samples, "samples_used": sum(int(b.shape[0]) for b in batches),
                     "clamped_to_train_split": used < calib.samples, "train_split_size": available,
                     "batch_sizes_used": sizes, "batches": len(batches)}
