"""One interface for every runtime: load an artifact, predict logits, be timed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from toolkit.artifacts import Model

if TYPE_CHECKING:  # numpy is the sessions' to import: naming runtimes (validating a recipe) needs none
    import numpy as np


class Session(Protocol):
    """A loaded model on one runtime."""

    threads: int | None
    precision: str

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits for a float32 NCHW batch."""
        ...

    def sync(self) -> None:
        """Wait for queued device work (a no-op on CPU)."""
        ...


@dataclass
class Runtime:
    """A runtime: its name, device, the model formats it runs, and how to load them."""

    name: str
    device: str
    formats: frozenset[str]
    description: str
    options: dict[str, Any] = field(default_factory=dict)

    def unavailable(self) -> str | None:
        """Why this runtime cannot run on this machine (None when it can)."""
        return None

    def load(self, model: Model, threads: int | None = None) -> Session:
        """Load a model for inference."""
        raise NotImplementedError


def missing_package(module: str, hint: str) -> str | None:
    """A 'not installed' reason when `module` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return f"the '{module}' package is not installed ({hint})"
    return None
