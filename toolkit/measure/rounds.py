"""Latency that knows its error: interleaved rounds, a median and a bootstrap interval over the rounds.

One measurement of a model is split into `rounds` blocks of timed runs. With several models (A, B, ...) the
blocks are interleaved, A B A B ..., so that a slow minute on a shared machine lands on every model instead
of on whichever happened to be timed then. Each round gives one median; the record's `p50_ms` is the median of
all runs and its 95% interval comes from a percentile bootstrap over the round medians (Efron & Tibshirani,
"An Introduction to the Bootstrap", 1993, ch. 13): how far the p50 moves if the rounds had gone otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from toolkit.config import MeasureSpec
from toolkit.measure.interrupts import check
from toolkit.measure.latency import cpu_sampler, summarize
from toolkit.measure.system import system_notes

ROUNDS = 5
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
# A record is unstable when its 95% interval spans more than 10% of its median (about +-5%): two stages
# closer than that cannot be told apart on this machine, which repeatability.md measured at up to ~7%.
UNSTABLE_INTERVAL_REL = 0.10

Sampler = Callable[[int], list[float]]  # run n times, return each run's time in ms


def bootstrap_interval(round_medians: list[float], seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval (ms) of the median of `round_medians`; deterministic for a seed."""
    values = np.asarray(round_medians, dtype=float)
    if values.size == 0:
        raise ValueError("no rounds to bootstrap")
    if values.size == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(BOOTSTRAP_RESAMPLES, values.size))
    medians = np.median(values[picks], axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def interval_fields(times: list[float], round_medians: list[float]) -> dict[str, Any]:
    """`ci_low_ms`, `ci_high_ms`, `ci_rel` (interval width / median), `rounds` and the interval's verdict."""
    p50 = float(np.median(times))
    low, high = bootstrap_interval(round_medians)
    low, high = min(low, p50), max(high, p50)  # the interval always contains the reported p50
    rel = (high - low) / max(p50, 1e-9)
    return {"ci_low_ms": round(low, 4), "ci_high_ms": round(high, 4), "ci_rel": round(rel, 4),
            "ci_level": CONFIDENCE, "rounds": len(round_medians), "round_p50_ms": [round(m, 4) for m in round_medians],
            "wide_interval": bool(rel > UNSTABLE_INTERVAL_REL)}


def wall_sampler(session: Any, images: Any) -> Sampler:
    """A sampler of a loaded runtime session on `images`: perf_counter around each predict+sync, taken where the
    model runs (a session in a worker process times itself there, `toolkit.runtimes.isolated`: the pipe to it is
    never inside a timed run)."""
    timed = getattr(session, "time_runs", None)
    if timed is not None:
        return lambda n: timed(images, n)
    return cpu_sampler(lambda: session.predict(images), session.sync)


def session_sampler(session: Any, images: Any) -> tuple[Sampler, str]:
    """(sampler, timer name) of a loaded runtime session on `images`: CUDA events where the session times the
    device itself, else `wall_sampler`."""
    if getattr(session, "gpu_timing", False):
        return (lambda n: session.time_ms(images, n)), "cuda-events"
    return wall_sampler(session, images), "perf_counter"


def time_rounds(samplers: dict[Hashable, Sampler], spec: MeasureSpec, rounds: int = ROUNDS,
                timer: str = "perf_counter") -> dict[Hashable, dict[str, Any]]:
    """Time every sampler in `rounds` interleaved rounds; one latency record (ms) per key.

    Each model is warmed up by time first. A round gives each model at least min_iters/rounds runs and
    min_time_s/rounds seconds; a model still short of runs after max_time_s is flagged `time_capped`.
    The record has the usual percentiles over all runs, the interval fields of `interval_fields`, and
    `unstable` when p90/p50 > 1.5 or the interval is wide.
    """
    if not samplers:
        return {}
    rounds = max(1, int(rounds))
    warm = {}
    for key, sample in samplers.items():
        start, count = time.perf_counter(), 0
        while count < 2 or time.perf_counter() - start < spec.warmup_s:
            sample(1)
            count += 1
        warm[key] = count
    per_round_iters = max(1, math.ceil(spec.min_iters / rounds))
    per_round_s, cap_s = spec.min_time_s / rounds, spec.max_time_s / rounds
    times: dict[Hashable, list[float]] = {k: [] for k in samplers}
    medians: dict[Hashable, list[float]] = {k: [] for k in samplers}
    capped = dict.fromkeys(samplers, False)
    before = system_notes()
    for _ in range(rounds):
        for key, sample in samplers.items():
            check()  # between models: an interrupt swallowed inside a runtime's native call stops here
            got: list[float] = []
            begin = time.perf_counter()
            while len(got) < per_round_iters or time.perf_counter() - begin < per_round_s:
                got += sample(min(10, max(1, per_round_iters - len(got))))
                if time.perf_counter() - begin > cap_s:
                    capped[key] = capped[key] or len(got) < per_round_iters
                    break
            times[key] += got
            medians[key].append(float(np.median(got)))
    after = system_notes()
    out = {}
    for key in samplers:
        record = {**summarize(times[key], warm[key], capped[key]), **interval_fields(times[key], medians[key]),
                  "timer": timer, "system": {"before": before, "after": after}}
        record["unstable"] = bool(record["unstable"] or record["wide_interval"])
        out[key] = record
    return out
