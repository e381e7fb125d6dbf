"""Latency: time-based warm-up, then at least N timed runs; percentiles, not a single mean."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from toolkit.config import MeasureSpec

UNSTABLE_P90_OVER_P50 = 1.5


def summarize(times: list[float], warm: int, capped: bool) -> dict[str, Any]:
    """Percentiles and flags of per-run times in ms."""
    arr = np.asarray(times)
    p50, p90, p99 = (float(v) for v in np.percentile(arr, [50, 90, 99]))
    return {
        "p50_ms": round(p50, 4), "p90_ms": round(p90, 4), "p99_ms": round(p99, 4),
        "mean_ms": round(float(arr.mean()), 4), "min_ms": round(float(arr.min()), 4),
        "iterations": len(times), "warmup_iterations": warm,
        "unstable": bool(p90 / max(p50, 1e-9) > UNSTABLE_P90_OVER_P50),
        "time_capped": capped,
    }


def time_device(time_ms: Callable[[int], list[float]], spec: MeasureSpec) -> dict[str, Any]:
    """GPU timing: `time_ms(n)` runs n times and returns each run's CUDA-event time; warm-up by time first."""
    start, warm = time.perf_counter(), 0
    while warm < 2 or time.perf_counter() - start < spec.warmup_s:
        time_ms(1)
        warm += 1
    times: list[float] = []
    begin = time.perf_counter()
    capped = False
    while len(times) < spec.min_iters or time.perf_counter() - begin < spec.min_time_s:
        times += time_ms(10)
        if time.perf_counter() - begin > spec.max_time_s:
            capped = len(times) < spec.min_iters
            break
    return {**summarize(times, warm, capped), "timer": "cuda-events"}


def time_calls(call: Callable[[], Any], spec: MeasureSpec, sync: Callable[[], None] | None = None) -> dict[str, Any]:
    """Time `call` (then `sync`) after a warm-up; returns percentiles in ms, iterations and a stability flag."""
    return time_samples(cpu_sampler(call, sync), spec)


def cpu_sampler(call: Callable[[], Any], sync: Callable[[], None] | None = None) -> Callable[[int], list[float]]:
    """A sampler `sample(n)`: the wall time in ms of each of n runs of `call` then `sync` (perf_counter)."""
    sync = sync or (lambda: None)

    def sample(n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            sync()
            out.append((time.perf_counter() - t0) * 1e3)
        return out

    return sample


def time_samples(sample: Callable[[int], list[float]], spec: MeasureSpec) -> dict[str, Any]:
    """Time with `sample(n)` (n runs, each run's time in ms, taken where the model runs) after a warm-up by time;
    returns percentiles in ms, iterations and a stability flag. Runs are asked for in chunks of at most 10 until
    `min_iters`, then one by one until `min_time_s`, stopping at `max_time_s` (`time_capped`)."""
    start = time.perf_counter()
    warm = 0
    while warm < 2 or time.perf_counter() - start < spec.warmup_s:
        sample(1)
        warm += 1
    times: list[float] = []
    begin = time.perf_counter()
    capped = False
    while len(times) < spec.min_iters or time.perf_counter() - begin < spec.min_time_s:
        times += sample(min(10, max(1, spec.min_iters - len(times))))
        if time.perf_counter() - begin > spec.max_time_s:
            capped = len(times) < spec.min_iters
            break
    return {**summarize(times, warm, capped), "timer": "perf_counter"}
