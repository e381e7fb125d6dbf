"""Typed records of a run folder: run.json and each stage's metrics.json, with a format version (no torch).

Writers (toolkit.run) build their dicts as before and pass them through `run_document` / `metrics_document`,
which check them against the schema below and stamp `format_version`. Readers (report, bench, CLI, the
other ranks of a distributed run) go through `read_run` / `read_metrics`, which never raise on what they
find on disk: a run folder may be edited by hand, truncated or come from someone else, so a value of the
wrong type or an unknown status is dropped (read as absent) instead of becoming a traceback later.

Format versions: 0 = no `format_version` key (written by toolkit 0.1.0), 1 = this schema, 2 = metrics.json
carries a seal (toolkit.layout.SEAL). Versions 1 and 2 only added keys, so older files read the same
way (a cache never reuses an unsealed stage; bench checks its files and says its metrics are
unchecked). A file from a newer toolkit is read as far as this schema goes (unknown keys are kept, as
they always are: stages write free-form `extra` sections).

Also: every status value a run folder holds, in one place, and `Record`, the attribute-access view of
metrics that `RunResult.metrics` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, cast, get_args

from pydantic import PrivateAttr, ValidationError

from toolkit.errors import ToolkitError
from toolkit.record_sections import (AccuracySection, DeviceSection, LatencyRecord, ModelSection, Section,
                                     StageExtra)

FORMAT_VERSION: Final = 2
"""The run.json / metrics.json format this toolkit writes (0: files without the key, toolkit 0.1.0;
1: versioned; 2: metrics.json sealed, toolkit.layout.SEAL)."""
SEALED_SINCE: Final = 2
"""The first format whose metrics.json carries a seal: a newer file without one was edited."""

# --- statuses ------------------------------------------------------------------------------------------
# A stage (metrics.json, run.json `stages` entries) and a latency record.
OK: Final = "ok"
DEGRADED: Final = "degraded"  # a model was made but is at chance level or lost too much top-1 (run.verdict)
SKIPPED: Final = "skipped"  # the stage (or runtime) could not run here; `reason` says why
FAILED: Final = "failed"
# A whole run (run.json `status`); FAILED as above.
RUNNING: Final = "running"
COMPLETE: Final = "complete"
INTERRUPTED: Final = "interrupted"  # Ctrl-C / a signal
STOPPED: Final = "stopped"  # --strict stopped after a degraded stage
# Only in what the report shows: a stage that run.json lists but whose metrics.json is gone.
MISSING: Final = "missing"

StageStatus = Literal["ok", "degraded", "skipped"]
"""What a stage's metrics.json (and its run.json entry) says; a failed stage writes no metrics.json."""
RunStatus = Literal["running", "complete", "failed", "interrupted", "stopped"]
LatencyStatus = Literal["ok", "skipped", "failed"]

STAGE_STATUSES: Final = frozenset(get_args(StageStatus))
RUN_STATUSES: Final = frozenset(get_args(RunStatus))
HAS_MODEL: Final = (OK, DEGRADED)
"""Stage statuses whose folder holds a model: the next stage reads it, caches and bench reuse it."""
RUN_ENDED_EARLY: Final = (FAILED, INTERRUPTED, STOPPED)
"""Run statuses of a run that did not complete (its stage table is printed from the folder)."""
RUN_ERRORED: Final = (FAILED, INTERRUPTED)
"""Run statuses whose error belongs to the stage the run was inside (`failed_stage`)."""
PROBLEM_STATUSES: Final = (FAILED, DEGRADED, INTERRUPTED, MISSING)
"""Statuses a summary shows in red with their reason."""

# stage_plan's step 0 (the input model, measured before any stage): not a registered stage type
INPUT_STAGE: Final = "input"


# --- schema --------------------------------------------------------------------------------------------
class _Schema(Section):
    """Known fields typed strictly, unknown fields kept (as every Section); remembers the mapping it read.

    At the top level the sections are plain mappings (what a stage writes is free-form); the readers'
    subclasses (StageMetricsAsRead, RunRecordAsRead, BenchRecord) type them with toolkit.record_sections."""

    _source: dict[str, Any] = PrivateAttr(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The file's mapping as read (key order and number types kept), less the values that were dropped."""
        return dict(self._source)


class StageEntry(_Schema):
    """One element of run.json `stages` (StageOutcome.summary)."""

    index: int | None = None
    name: str | None = None
    type: str | None = None
    dir: str | None = None
    key: str | None = None
    status: StageStatus | None = None
    cached: bool | None = None
    seconds: float | None = None
    reason: str | None = None
    format: str | None = None


class PlannedStage(_Schema):
    """One element of run.json `planned`: every step of the recipe, written before the first runs."""

    index: int | None = None
    name: str | None = None
    type: str | None = None


class RunRecord(_Schema):
    """run.json: the run's name, status, timing, device, data and its stages so far."""

    format_version: int = 0
    name: str | None = None
    toolkit_version: str | None = None
    status: RunStatus | None = None
    error: str | None = None
    failed_stage: str | None = None  # '02-prune' while (and if) the run failed inside that stage
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    compute_seconds: float | None = None
    report: str | None = None
    device: dict[Any, Any] | None = None
    data: dict[Any, Any] | None = None
    stages: list[StageEntry] = []
    planned: list[PlannedStage] = []
    warnings: list[str] = []
    removed_stale: list[str] = []


class StageMetrics(_Schema):
    """A stage's metrics.json: status, timing, cache keys, and the sections of measure_model and the stage."""

    format_version: int = 0
    stage: str | None = None  # the stage type ('prune'), or INPUT_STAGE
    name: str | None = None
    index: int | None = None
    status: StageStatus | None = None
    reason: str | None = None
    seconds: float | None = None
    key: str | None = None
    measure_key: str | None = None
    model: dict[Any, Any] | None = None
    accuracy: dict[Any, Any] | None = None
    latency: list[dict[Any, Any]] = []
    device: dict[Any, Any] | None = None
    verdict: dict[Any, Any] | None = None
    extra: dict[Any, Any] = {}
    artifacts: dict[Any, Any] = {}
    artifact_meta: dict[Any, Any] | None = None
    files: dict[Any, Any] | None = None
    shared_from: str | None = None


class StageMetricsAsRead(StageMetrics):
    """metrics.json as readers see it: its sections typed too (toolkit.record_sections), so that a value the
    report would draw or divide by is either of its type and range or absent."""

    model: ModelSection | None = None
    accuracy: AccuracySection | None = None
    latency: list[LatencyRecord] = []
    device: DeviceSection | None = None
    extra: StageExtra = StageExtra()


class RunRecordAsRead(RunRecord):
    """run.json as readers see it: the device section typed too."""

    device: DeviceSection | None = None


class BenchRecord(_Schema):
    """A `compress bench` measurement of one stage on one device (NN-<stage>/measurements/<device>.json)."""

    latency: list[LatencyRecord] = []
    device: DeviceSection | None = None


class RecordError(ToolkitError, ValueError):
    """A run.json / metrics.json about to be written does not fit the schema (a toolkit bug, or a plugin
    stage whose StageResult.metrics is not a mapping); nothing is written. One line on the terminal."""


# --- writing -------------------------------------------------------------------------------------------
def _document(schema: type[_Schema], data: dict[str, Any], what: str) -> dict[str, Any]:
    body = {k: v for k, v in data.items() if k != "format_version"}
    try:
        record = schema.model_validate(body)
    except ValidationError as exc:
        raise RecordError(f"refusing to write {what}: {_problems(exc)}") from None
    if record.status is None:
        raise RecordError(f"refusing to write {what}: it has no status")
    return {"format_version": FORMAT_VERSION, **body}


def run_document(data: dict[str, Any]) -> dict[str, Any]:
    """`data` checked against RunRecord, `format_version` first; raises RecordError if it does not fit."""
    return _document(RunRecord, data, "run.json")


def metrics_document(data: dict[str, Any]) -> dict[str, Any]:
    """`data` checked against StageMetrics, `format_version` first; raises RecordError if it does not fit."""
    return _document(StageMetrics, data, "metrics.json")


# --- reading -------------------------------------------------------------------------------------------
def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])


def _has(container: Any, key: Any) -> bool:
    """Whether `key` names a value in `container` (a dict key, or an index of a list)."""
    if isinstance(container, dict):
        return key in container
    return isinstance(container, list) and type(key) is int and 0 <= key < len(container)


def _without(data: Any, loc: tuple[Any, ...]) -> Any:
    """A copy of `data` without the value at `loc` (a dict key or list item; copies only along the path).

    `loc` may end in names that are not in the data (pydantic's union tags): the deepest part that is
    there goes."""
    if not loc or not _has(data, loc[0]):
        return data
    head, rest = loc[0], loc[1:]
    child = data[head]
    keep_child = bool(rest) and _has(child, rest[0])  # the bad value is further down: drop only that
    if isinstance(data, dict):
        copy = dict(data)
        if keep_child:
            copy[head] = _without(child, rest)
        else:
            del copy[head]
        return copy
    return data[:head] + ([_without(child, rest)] if keep_child else []) + data[head + 1:]


def _lenient(schema: type[_Schema], value: Any) -> _Schema | None:
    """`value` as `schema`, each value that does not fit dropped (read as absent); None when not a mapping."""
    if not isinstance(value, dict):
        return None
    data = {k: v for k, v in value.items() if isinstance(k, str)}
    while True:  # each pass drops at least one value, so this ends
        try:
            record = schema.model_validate(data)
        except ValidationError as exc:
            smaller = _without(data, tuple(exc.errors()[0]["loc"]))
            if smaller == data:  # cannot happen with the schemas above; never loop forever on it
                return schema()
            data = smaller
            continue
        record._source = data
        return record


def read_run(value: Any, *, sections: bool = True) -> RunRecord | None:
    """Parsed run.json (any format version), or None when it is not a JSON object.

    Never raises: a value of the wrong type, an unknown status or a malformed stage entry is dropped.
    `sections`: check the device section too (RunRecordAsRead); False checks the top level only."""
    return cast("RunRecord | None", _lenient(RunRecordAsRead if sections else RunRecord, value))


def read_metrics(value: Any, *, sections: bool = True) -> StageMetrics | None:
    """Parsed metrics.json (any format version), or None when it is not a JSON object.

    Never raises: a value of the wrong type or range, or an unknown status, is dropped (read as absent).
    `sections`: check the inner sections too (StageMetricsAsRead, what readers such as the report use); False
    checks the top level only, as the runner writes and reuses stages (a 0 ms timing stays as recorded)."""
    return cast("StageMetrics | None", _lenient(StageMetricsAsRead if sections else StageMetrics, value))


def read_bench(value: Any) -> BenchRecord | None:
    """A parsed bench measurement file, or None when it is not a JSON object. Never raises (as read_metrics)."""
    return cast("BenchRecord | None", _lenient(BenchRecord, value))


# --- attribute access ----------------------------------------------------------------------------------
class Record(dict):
    """A dict whose keys are also attributes (nested dicts become Records); missing attributes are errors.

    What `RunResult.metrics` returns: run.metrics["prune"].accuracy.top1."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"no field '{name}' (fields: {', '.join(self)})") from None
        return wrap(value)

    def __getitem__(self, key: str) -> Any:
        return wrap(dict.__getitem__(self, key))


def wrap(value: Any) -> Any:
    """Records for dicts, lists of them for lists, values otherwise."""
    if isinstance(value, dict) and not isinstance(value, Record):
        return Record(value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def timing_summary(run: Mapping[str, Any], stage_seconds: Iterable[float | None]) -> dict[str, Any]:
    """The report's timing facts from run.json and the stages' metrics.json seconds.

    Older run.json files lack `compute_seconds`; it is then summed from the stages' own seconds.
    Returns {"compute_seconds", "wall_seconds", "cached_stages", "text"}; seconds may be None.
    """
    compute = run.get("compute_seconds")
    if compute is None:
        known = [float(s) for s in stage_seconds if s is not None]
        compute = round(sum(known), 3) if known else None
    wall = run.get("seconds")
    cached = run.get("cached_stages")
    if cached is None:
        cached = sum(1 for s in run.get("stages") or [] if s.get("cached"))
    parts = []
    if compute is not None:
        parts.append(f"stage compute {format_seconds(compute)} (every stage's own time, cached ones "
                     f"counted at the time they took when computed)")
    if wall is not None:
        reused = f", {cached} stage(s) read from the cache" if cached else ""
        cover = f" ({run['seconds_cover']})" if isinstance(run.get("seconds_cover"), str) else ""
        parts.append(f"last invocation {format_seconds(wall)} of wall time{cover}{reused}")
    return {"compute_seconds": compute, "wall_seconds": wall, "cached_stages": cached,
            "text": "; ".join(parts) if parts else "time not recorded"}


def format_seconds(seconds: float) -> str:
    """'0.2 s', '47.0 s', '6 min 03 s', '1 h 02 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def timing_line(run_dir: Any) -> str:
    """'time: stage compute ...; last invocation ...' from a run folder's run.json (for the terminal)."""
    import json
    from pathlib import Path

    try:
        run = json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, ValueError):
        return "time: not recorded"
    return "time: " + timing_summary(run, [s.get("seconds") for s in run.get("stages") or []])["text"]
