"""The calibration images a quantize stage feeds ONNX Runtime: how many, in which batches, said out loud."""

from __future__ import annotations

from typing import Any

import torch

from toolkit.data import DataBundle
from toolkit.quantize.config import Calibration
from toolkit.quantize.ptq import HISTOGRAM_METHODS, even_batches
from toolkit.site import SiteLog


def calibration_input(data: DataBundle, calib: Calibration, seed: int, log: SiteLog
                      ) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """Train images chosen by `seed` for `calib` (samples, batch_size, method) and what was actually used.

    Returns the batches ((b, C, H, W) float tensors) and facts for the stage's `extra.calibration`:
    samples_used, batch sizes, and `clamped_to_train_split` when the split has fewer images than asked.
    The histogram methods (entropy, percentile) get equal batches; see ptq.even_batches.
    """
    available = len(data.train)
    used = min(calib.samples, available)
    if used < calib.samples:
        log.warning(f"calibration: {calib.samples} samples asked but the train split has only {available} "
                        f"images; calibrating on all {available}")
    batches = data.calibration_batches(used, calib.batch_size, seed)
    if calib.method in HISTOGRAM_METHODS:
        batches = even_batches(batches, calib.batch_size)
    sizes = sorted({int(b.shape[0]) for b in batches})
    return batches, {"samples_requested": calib.samples, "samples_used": sum(int(b.shape[0]) for b in batches),
                     "clamped_to_train_split": used < calib.samples, "train_split_size": available,
                     "batch_sizes_used": sizes, "batches": len(batches)}


def calibration_message(facts: dict[str, Any], method: str, cache_hit: bool, batches_read: int) -> str:
    """The log line for what calibration actually read: on a cache hit the cached scales are used and only
    `batches_read` batches ran (0 for ONNX Runtime, 1 for ModelOpt, which needs one to build its graph)."""
    sizes = "/".join(map(str, facts["batch_sizes_used"]))
    if cache_hit:
        return (f"calibration: cache hit, scales from the cache; {batches_read} of {facts['batches']} batch(es) "
                f"read ({method})")
    return (f"calibration: {facts['samples_used']} train images in {facts['batches']} batch(es) of {sizes} "
            f"({method}), {batches_read} read")
