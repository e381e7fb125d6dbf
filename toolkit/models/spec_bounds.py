"""Cheap checks of a saved model's spec against its weights file, before anything is allocated.

structure.json may be edited (a run folder is data). Building the model it describes allocates what the
spec asks for, so the spec is checked first against the safetensors header, which holds the real shapes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from toolkit.config import InputShape
from toolkit.errors import ArtifactError

# The unpruned model may legitimately be much larger than the pruned weights; beyond this factor (and
# this floor, in elements) the spec asks for more than any pruning of these weights could explain.
GROWTH_LIMIT = 64
FLOOR_ELEMENTS = 100_000_000


def saved_input_shape(spec: dict[str, Any]) -> InputShape:
    """The input shape a saved spec records: `image_size` (an int, or [height, width]; default 32), each side
    8 to 4096, and `channels` (1 or 3; default 3, as before files recorded it). Raises ValueError otherwise."""
    size, channels = spec.get("image_size", 32), spec.get("channels", 3)
    sides = size if isinstance(size, list) and len(size) == 2 else [size]
    if not all(type(side) is int and 8 <= side <= 4096 for side in sides):
        raise ValueError(f"image_size {size!r} is not an integer from 8 to 4096 or [height, width] of them")
    if type(channels) is not int or channels not in (1, 3):
        raise ValueError(f"channels {channels!r} is not 1 or 3")
    return InputShape.of(sides[0] if len(sides) == 1 else sides, channels)


def check_classes_in_weights(classes: int | None, saved_shapes: dict[str, list[int]], source: Path) -> None:
    """The recorded class count must be a dimension of some saved tensor (the classifier's); ArtifactError if not."""
    if classes is None:
        return
    if not any(classes in shape for shape in saved_shapes.values()):
        raise ArtifactError(f"{source}: num_classes {classes} is not a dimension of any tensor in the weights "
                            f"file; the structure file does not describe these weights (edited?)")


def check_build_size(build: Any, saved_shapes: dict[str, list[int]], source: Path) -> None:
    """Build the model on the meta device (no memory) and refuse a spec far larger than the saved weights.

    `build` is a no-argument callable returning the model. A factory that cannot build on the meta device
    is not judged here; the shape checks against the weights file still apply when it is built for real.
    """
    import torch

    try:
        with torch.device("meta"):
            model = build()
        elements = sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())
    except Exception:  # noqa: BLE001 - factories that need real tensors; judged by the later checks
        return
    saved = sum(math.prod(shape) for shape in saved_shapes.values())
    limit = max(GROWTH_LIMIT * saved, FLOOR_ELEMENTS)
    if elements > limit:
        raise ArtifactError(f"{source}: the recorded model spec builds {elements:,} parameters, far more than the "
                            f"{saved:,} in the weights file; the structure file does not describe these "
                            f"weights (edited?)")
