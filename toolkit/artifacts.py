"""Model artifacts that are files rather than torch modules (ONNX, INT8 ONNX, TensorRT engines)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from toolkit.registry import TORCH


@dataclass
class ModelArtifact:
    """A model file and its format; `meta` carries what cannot be read back from the file (MACs, ...)."""

    format: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    def moved_to(self, directory: Path) -> ModelArtifact:
        """The same artifact after its stage folder was renamed to `directory`."""
        return ModelArtifact(self.format, Path(directory) / self.path.name, dict(self.meta))


Model = nn.Module | ModelArtifact


def model_format(model: Model) -> str:
    """'torch' for modules, else the artifact's format."""
    return TORCH if isinstance(model, nn.Module) else model.format
