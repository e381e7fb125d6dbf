"""Timing pruning probes against the unpruned baseline, in the same interleaved rounds, with their error.

The speedup of a probe is the median over rounds of (baseline round p50 / probe round p50): a slow moment of
the machine hits both in the same round and cancels out. A probe whose network is identical to one already
measured (two ratios that round to the same channels) reuses that measurement.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.artifacts import ONNX, TORCH, ModelArtifact
from toolkit.config import MeasureSpec
from toolkit.errors import ToolkitError
from toolkit.measure.graph import onnx_graph_hash, torch_graph_hash
from toolkit.measure.rounds import UNSTABLE_INTERVAL_REL, bootstrap_interval, session_sampler, time_rounds

PROBE_TIMING = MeasureSpec(warmup_s=0.1, min_iters=30, min_time_s=0.3, max_time_s=10.0)
PROBE_ROUNDS = 5
MEASUREMENT_KEYS = ("latency_ms", "latency_ci_ms", "base_ms", "speedup", "speedup_ci", "unstable", "load_avg",
                    "graph_hash", "measurements", "settled")


class ProbeTimer:
    """Measures pruned copies of a model against the baseline on one runtime and batch size.

    Raises ToolkitError when the runtime cannot run here or runs neither torch nor ONNX models.
    """

    def __init__(self, baseline: nn.Module, runtime_name: str, batch_size: int, example: torch.Tensor,
                 timing: MeasureSpec = PROBE_TIMING, rounds: int = PROBE_ROUNDS,
                 convert: Callable[[Path], ModelArtifact] | None = None):
        """`convert`: turns each network's fp32 ONNX export into the model timed (`precision.ProbeConverter`:
        INT8 or fp16); the baseline is converted the same way, so speedups compare like with like. None: fp32."""
        from toolkit.runtimes import get_runtime

        self.runtime = get_runtime(runtime_name)
        reason = self.runtime.unavailable()
        if reason:
            raise ToolkitError(f"prune.target.runtime: {runtime_name} cannot run here: {reason}")
        if TORCH not in self.runtime.formats and ONNX not in self.runtime.formats:
            raise ToolkitError(f"prune.target.runtime: {runtime_name} runs neither torch nor ONNX models")
        self.example, self.timing, self.rounds, self.convert = example, timing, rounds, convert
        self._converted: dict[str, ModelArtifact] = {}  # each network is quantized once, however often timed
        self.images = example[:1].repeat(batch_size, 1, 1, 1).numpy()
        self._tmp = tempfile.TemporaryDirectory(prefix="latency-probe-")
        self._count = 0
        self.base_hash, self._load_base = self._load(baseline)
        self._base_session = None
        self.cache: dict[str, dict[str, Any]] = {}  # graph fingerprint -> measurement
        self.measurements = 0  # how many times something was actually timed

    def _load(self, model: nn.Module):
        """(fingerprint, loader): the session is created lazily, only when the network must be timed."""
        if TORCH in self.runtime.formats:  # a torch runtime's precision is its own (torch-cuda-fp16)
            return torch_graph_hash(model), lambda: self.runtime.load(model)
        from toolkit.convert.onnx import export_onnx

        self._count += 1
        path = Path(self._tmp.name) / f"probe{self._count}.onnx"
        export_onnx(model, path, self.example)
        ghash = onnx_graph_hash(path)
        return ghash, lambda: self.runtime.load(self._timed_form(path, ghash))

    def _timed_form(self, path: Path, ghash: str) -> ModelArtifact:
        """The model timed for the fp32 export `path`: converted once per network structure (`ghash`)."""
        if self.convert is None:
            return ModelArtifact(ONNX, path)
        if ghash not in self._converted:
            self._converted[ghash] = self.convert(path)
        return self._converted[ghash]

    def measure(self, model: nn.Module, fresh: bool = False) -> dict[str, Any]:
        """Baseline and `model` timed together: p50s in ms, speedup with its 95% interval, `unstable`.

        `fresh`: time it again even when an identical network was measured (new sessions for both).
        """
        ghash, load = self._load(model)
        if not fresh and ghash in self.cache:
            return {**self.cache[ghash], "reused": True}
        if ghash == self.base_hash and not fresh:
            return {"latency_ms": None, "base_ms": None, "speedup": 1.0, "speedup_ci": [1.0, 1.0],
                    "unstable": False, "graph_hash": ghash, "reused": True, "settled": True}
        if fresh or self._base_session is None:
            self._base_session = self._load_base()
        base_session, session = self._base_session, load()
        # timed where the model runs: CUDA events, or perf_counter in an isolated runtime's worker process
        samplers = {"base": session_sampler(base_session, self.images)[0],
                    "probe": session_sampler(session, self.images)[0]}
        timed = time_rounds(samplers, self.timing, self.rounds)
        self.measurements += 1
        base, probe = timed["base"], timed["probe"]
        ratios = [b / max(p, 1e-12) for b, p in zip(base["round_p50_ms"], probe["round_p50_ms"])]
        speedup = float(np.median(ratios))
        low, high = bootstrap_interval(ratios)
        low, high = min(low, speedup), max(high, speedup)
        result = {"latency_ms": probe["p50_ms"], "latency_ci_ms": [probe["ci_low_ms"], probe["ci_high_ms"]],
                  "base_ms": base["p50_ms"], "speedup": round(speedup, 4),
                  "speedup_ci": [round(low, 4), round(high, 4)],
                  "unstable": bool(base["unstable"] or probe["unstable"]
                                   or (high - low) / max(speedup, 1e-12) > UNSTABLE_INTERVAL_REL),
                  "load_avg": (probe["system"]["after"] or {}).get("load_avg"), "graph_hash": ghash}
        self.cache[ghash] = result
        return dict(result)

    def replace(self, ghash: str, result: dict[str, Any]) -> None:
        """Make `result` the measurement of the network with fingerprint `ghash` (after a re-measurement)."""
        self.cache[ghash] = {k: result[k] for k in MEASUREMENT_KEYS if k in result}
