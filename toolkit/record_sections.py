"""The typed inner sections of metrics.json, run.json and bench files, as the report reads them.

Every value the report draws has a type here, and a range where the report divides by it (a latency is > 0 ms)
or prints it as a percentage (top-1 is a fraction in [0, 1]). `toolkit.records.read_metrics`, `read_run` and
`read_bench` validate a file against these models leniently: a value that does not fit is dropped (read as
absent) and a latency record without its runtime or batch size, or a history row without its epoch or loss, goes
whole, so the rest of the report trusts what it gets. Writers are held only to the top level (a stage may record
a 0 ms timing, or a new field, without failing its run); readers are held to these sections.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MIN_MS = 1e-6  # 1 ns: no runtime answers faster; a smaller p50 is an edited file, and 1/p50 would overflow
Ms = Annotated[float, Field(ge=MIN_MS, le=1e9)]  # a latency: the report divides by it
Fraction = Annotated[float, Field(ge=0, le=1)]  # top-1, top-5, a share


class Section(BaseModel):
    """Known fields typed strictly (no '3' for 3, no bool for a number, no NaN); unknown fields kept."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


class LoadNotes(Section):
    """The machine's state around a timing (toolkit.measure.system.system_notes)."""

    logical_cpus: int | None = None
    cpu_mhz: float | None = None
    cpu_max_mhz: float | None = None
    governor: str | None = None
    load_avg: Annotated[list[float], Field(min_length=1)] | None = None


class SystemNotes(Section):
    """Load notes before and after a latency measurement."""

    before: LoadNotes | None = None
    after: LoadNotes | None = None


class LatencyRecord(Section):
    """One runtime at one batch size: percentiles in ms, the 95% interval of the p50, status and why."""

    runtime: str
    batch_size: int
    status: str | None = None
    reason: str | None = None
    precision: str | None = None
    format: str | None = None
    threads: int | None = None
    unstable: bool | None = None
    p50_ms: Ms | None = None
    p90_ms: Ms | None = None
    p99_ms: Ms | None = None
    mean_ms: Ms | None = None
    throughput_ips: float | None = None
    ci_low_ms: Ms | None = None
    ci_high_ms: Ms | None = None
    graph: str | None = None
    system: SystemNotes | None = None


class ModelSection(Section):
    """The stage's model file: format, parameters, MACs, bytes, content hash."""

    format: str | None = None
    file: str | None = None
    params: int | None = None
    macs: int | None = None
    size_bytes: int | None = None
    sha256: str | None = None


class AccuracySection(Section):
    """Top-1 and top-5 (fractions) on `samples` validation images, or why accuracy was not measured."""

    top1: Fraction | None = None
    top5: Fraction | None = None
    samples: int | None = None
    reason: str | None = None


class DeviceSection(Section):
    """The machine a stage was measured on: its CPU's name, and the GPU or Jetson board where there is one."""

    cpu: str | None = None
    gpu: dict[str, Any] | None = None
    jetson: dict[str, Any] | None = None


class HistoryRow(Section):
    """One epoch of a training loop."""

    epoch: float
    loss: float
    val_top1: Fraction | None = None


class EngineBuild(Section):
    """One TensorRT engine the engine stage built."""

    build_seconds: float | None = None
    p50_ms: Ms | None = None


class FloatRanking(Section):
    """One layer of the quantize stage's accuracy-gated float ranking."""

    top1_if_float: Fraction | None = None
    recovered_points: float | None = None


class Placement(Section):
    """The Q/DQ placement check of a tensorrt-scheme INT8 file."""

    ok: bool | None = None
    findings: list[dict[str, Any]] = []


class QatSection(Section):
    """Quantization-aware training's own history."""

    history: list[HistoryRow] = []


class StageExtra(Section):
    """The stage-specific `extra` values the report prints or draws (prune, quantize, engine, training)."""

    method: str | None = None
    macs_before: int | None = None
    macs_after: int | None = None
    params_before: int | None = None
    params_after: int | None = None
    macs_speedup: float | None = None
    params_removed: Fraction | None = None
    target_met: bool | None = None
    target_reason: str | None = None
    fp32_top1: Fraction | None = None
    int8_top1_before_fallback: Fraction | None = None
    drop_points: float | None = None
    max_accuracy_drop: float | None = None
    bound_met: bool | None = None
    scheme: str | None = None
    scheme_reason: str | None = None
    kept_float: list[dict[str, Any]] = []
    engines: list[EngineBuild] = []
    sensitivity: list[FloatRanking] = []
    layer_precisions: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    quantizer: dict[str, Any] | None = None
    placement: Placement | None = None
    history: list[HistoryRow] = []
    steps: list[dict[str, Any]] = []
    qat: QatSection | None = None
    channels: dict[str, Annotated[list[int | None], Field(min_length=2, max_length=2)]] = {}
