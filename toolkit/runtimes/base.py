"""One interface for every runtime: load an artifact, predict logits, be timed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from toolkit.artifacts import Model, ModelArtifact

if TYPE_CHECKING:  # numpy is the sessions' to import: naming runtimes (validating a recipe) needs none
    import numpy as np


class Session(Protocol):
    """A loaded model on one runtime. A session in a worker process also has `time_runs(images, n)`: the
    wall time in ms of n runs, taken there (`toolkit.runtimes.isolated`)."""

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
    """A runtime: its name, device, the model formats it runs, and how to load them.

    `isolated`: model files are loaded, run and timed in a worker process (`toolkit.runtimes.isolated`), so that
    a native crash there fails that model's measurement instead of ending this process. The class must then be
    importable by its module name in a fresh interpreter (the worker unpickles it).
    """

    isolated: ClassVar[bool] = False

    name: str
    device: str
    formats: frozenset[str]
    description: str
    options: dict[str, Any] = field(default_factory=dict)

    def unavailable(self) -> str | None:
        """Why this runtime cannot run on this machine (None when it can)."""
        return None

    def load(self, model: Model, threads: int | None = None) -> Session:
        """Load a model for inference: in this runtime's worker process when it is `isolated` and the model is a
        file, else here. Raises what `open_here` raises, or RuntimeCrashed when the worker dies loading it."""
        if self.isolated and isinstance(model, ModelArtifact):
            from toolkit.runtimes.isolated import open_isolated

            return open_isolated(self, model, threads)
        return self.open_here(model, threads)

    def open_here(self, model: Model, threads: int | None = None) -> Session:
        """Load a model for inference in this process (an isolated runtime's worker calls this)."""
        raise NotImplementedError


def missing_package(module: str, hint: str) -> str | None:
    """A 'not installed' reason when `module` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return f"the '{module}' package is not installed ({hint})"
    return None
