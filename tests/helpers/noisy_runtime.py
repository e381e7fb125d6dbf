"""A fake runtime whose latency is drawn from a wide distribution: planted noise for the decision tests.

Its true latency is proportional to the model's parameter count (a stand-in for MACs in these toy nets),
or what `cost_ms(model)` says; each timed run is that times a log-normal draw. Sessions listed in
`outlier_loads` (by load order, from 1) run `outlier_factor` times faster on every call: a whole measurement
that is an outlier.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from toolkit.artifacts import TORCH
from toolkit.runtimes import RUNTIMES, Runtime


def cost(model: nn.Module) -> int:
    """The fake's notion of MACs: the number of parameters."""
    return sum(p.numel() for p in model.parameters())


class NoisySession:
    """Times itself from the distribution instead of running anything (gpu_timing: time_ms is used)."""

    gpu_timing = True
    precision = "fp32"
    threads = 1

    def __init__(self, runtime: NoisyRuntime, model: nn.Module, factor: float):
        self.runtime, self.factor = runtime, factor
        self.true_ms = runtime.cost_ms(model) if runtime.cost_ms else runtime.ms_per_param * cost(model)
        self.timed_runs = 0

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Zero logits."""
        return np.zeros((len(images), 10), dtype=np.float32)

    def time_ms(self, images: np.ndarray, n: int) -> list[float]:
        """n draws of true latency x log-normal(0, sigma) (x factor for an outlier session)."""
        self.timed_runs += n
        draws = self.runtime.rng.lognormal(0.0, self.runtime.sigma, size=n)
        return [float(v) for v in self.true_ms * self.factor * draws]

    def sync(self) -> None:
        """Nothing queued."""


@dataclass
class NoisyRuntime(Runtime):
    """Registered as 'noisy-fake' by `noisy_runtime(...)`."""

    sigma: float = 0.3
    ms_per_param: float = 1e-3
    seed: int = 0
    outlier_loads: set[int] = field(default_factory=set)
    outlier_factor: float = 0.1
    cost_ms: Callable[[nn.Module], float] | None = None
    loads: int = 0
    sessions: list[NoisySession] = field(default_factory=list)

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

    def load(self, model, threads=None) -> NoisySession:
        """A session; the n-th load is an outlier when n is in outlier_loads."""
        self.loads += 1
        session = NoisySession(self, model, self.outlier_factor if self.loads in self.outlier_loads else 1.0)
        self.sessions.append(session)
        return session


@contextlib.contextmanager
def noisy_runtime(name: str = "noisy-fake", **options):
    """Register a NoisyRuntime as `name` for the duration of a with-block."""
    runtime = NoisyRuntime(name, "cpu", frozenset({TORCH}), "planted noise", **options)
    RUNTIMES.add(runtime.name, runtime)
    try:
        yield runtime
    finally:
        RUNTIMES.remove(runtime.name)
