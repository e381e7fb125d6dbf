"""Model formats, and model artifacts that are files rather than torch modules (ONNX, INT8 ONNX, engines).

No torch import: the registry, the report and `compress validate` use the format names without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from toolkit.errors import ArtifactError

if TYPE_CHECKING:
    from torch import nn

TORCH = "torch"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
TENSORRT = "tensorrt"
MODEL_FORMATS = (TORCH, ONNX, ONNX_INT8, TENSORRT)


@dataclass
class ModelArtifact:
    """A model file and its format; `meta` carries what cannot be read back from the file (MACs, ...)."""

    format: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    def moved_to(self, directory: Path) -> ModelArtifact:
        """The same artifact after its stage folder was renamed to `directory`."""
        return ModelArtifact(self.format, Path(directory) / self.path.name, dict(self.meta))


Model = Union["nn.Module", ModelArtifact]


def model_format(model: Model) -> str:
    """'torch' for modules, else the artifact's format."""
    return model.format if isinstance(model, ModelArtifact) else TORCH


def check_onnx_file(path: Path) -> None:
    """Fail with a message naming the file when it is not a valid ONNX model, or not a regular file (a FIFO in a
    tampered run folder would block the checker's read forever)."""
    import os
    import stat

    import onnx

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ArtifactError(f"{path}: not a regular file (a folder, device, pipe or socket); expected an ONNX file")
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf/checker errors on truncated or tampered files
        detail = " ".join(str(exc).split())[:200]  # the checker's messages span lines; an error is one line
        raise ArtifactError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {detail})") from None
