"""Paired latency: time a model and a changed copy back to back, in rounds, so drift cancels out."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.config import MeasureSpec
from toolkit.errors import ToolkitError
from toolkit.measure.interrupts import check
from toolkit.measure.latency import time_samples
from toolkit.measure.latency import cpu_sampler
from toolkit.measure.rounds import Sampler, wall_sampler

# Short timings: many variants are compared, and pairing plus rounds (not long runs) beat the noise.
PAIR_TIMING = MeasureSpec(warmup_s=0.05, min_iters=20, min_time_s=0.1, max_time_s=5.0)


class RuntimeCall:
    """A model loaded on a runtime with its input batch: calling it runs the model once; `sample(n)` times n runs
    (ms, perf_counter around predict+sync) where the model runs: in the runtime's worker process for an isolated
    runtime (`toolkit.runtimes.isolated`), so the pipe to it is never timed."""

    def __init__(self, session: Any, images: np.ndarray):
        self.session, self.images = session, images
        self.sample: Sampler = wall_sampler(session, images)

    def __call__(self) -> None:
        self.session.predict(self.images)
        self.session.sync()


def _sampler(call: Callable[[], Any]) -> Sampler:
    """A RuntimeCall's own sampler; perf_counter around any other no-argument call."""
    return call.sample if isinstance(call, RuntimeCall) else cpu_sampler(call)


@contextlib.contextmanager
def runtime_callers(runtime_name: str, batch_size: int, example: torch.Tensor, threads: int | None = None
                    ) -> Iterator[Callable[[nn.Module], RuntimeCall]]:
    """Yield `load(model) -> RuntimeCall`: the model on a runtime at a batch size, to run once or to time.

    Models are exported to ONNX (in a temporary folder kept open for the block) where the runtime needs it.
    Raises ToolkitError when the runtime is unavailable here or runs neither torch nor ONNX models.
    """
    from toolkit.artifacts import ONNX, TORCH, ModelArtifact
    from toolkit.convert.onnx import export_onnx
    from toolkit.runtimes import get_runtime

    runtime = get_runtime(runtime_name)
    reason = runtime.unavailable()
    if reason:
        raise ToolkitError(f"runtime {runtime_name} cannot run here: {reason}")
    if TORCH not in runtime.formats and ONNX not in runtime.formats:
        raise ToolkitError(f"runtime {runtime_name} runs neither torch nor ONNX models")
    images = example[:1].repeat(batch_size, 1, 1, 1).numpy()
    with tempfile.TemporaryDirectory(prefix="paired-") as tmp:
        count = 0

        def load(model: nn.Module) -> RuntimeCall:
            nonlocal count
            if TORCH in runtime.formats:
                session = runtime.load(model, threads)
            else:
                count += 1
                path = Path(tmp) / f"variant{count}.onnx"
                export_onnx(model, path, example)
                session = runtime.load(ModelArtifact(ONNX, path), threads)
            return RuntimeCall(session, images)

        yield load


def paired_round(base: Callable[[], Any], variants: dict[str, Callable[[], Any]],
                 timing: MeasureSpec = PAIR_TIMING) -> dict[str, list[float]]:
    """One round: for each variant, p50 of the base then p50 of the variant (ms); {id: [base_ms, variant_ms]}.

    A `RuntimeCall` is timed where its model runs; any other no-argument call with perf_counter around it."""
    out = {}
    for vid, call in variants.items():
        check()  # between variants: an interrupt swallowed inside a runtime's native call stops here
        base_ms = time_samples(_sampler(base), timing)["p50_ms"]
        out[vid] = [base_ms, time_samples(_sampler(call), timing)["p50_ms"]]
    return out


def summarize_rounds(rounds: list[dict[str, list[float]]]) -> tuple[float, dict[str, dict[str, float]]]:
    """Median base latency and, per variant, the median of (base - variant) over rounds and its spread.

    `spread_ms` is the median absolute deviation of the per-round savings: a saving smaller than about
    twice it is inside the measurement noise.
    """
    base = [pair[0] for r in rounds for pair in r.values()]
    out = {}
    for vid in {v for r in rounds for v in r}:
        deltas = np.asarray([r[vid][0] - r[vid][1] for r in rounds if vid in r])
        median = float(np.median(deltas))
        out[vid] = {"saved_ms": round(median, 5), "spread_ms": round(float(np.median(np.abs(deltas - median))), 5),
                    "variant_ms": round(float(np.median([r[vid][1] for r in rounds if vid in r])), 5),
                    "rounds": len(deltas)}
    return (round(float(np.median(base)), 5) if base else float("nan")), out
