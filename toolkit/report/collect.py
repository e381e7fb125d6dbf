"""Read a run folder's JSON files (and nothing else) into the rows the report shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from toolkit.errors import UserInputError
from toolkit.fsutil import read_json
from toolkit.measure.device import device_slug
from toolkit.records import FAILED, MISSING, OK, RUN_ERRORED, SKIPPED, read_bench, read_metrics
from toolkit.records import read_run as read_run_record


@dataclass
class StageView:
    """One stage as the report sees it."""

    index: int
    name: str
    type: str
    status: str
    reason: str | None
    metrics: dict[str, Any]
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)  # device slug -> bench record
    integrity: str | None = None  # why its numbers are not the ones the run wrote (toolkit.layout.stage_problem)

    @property
    def label(self) -> str:
        """'02-prune'."""
        return f"{self.index:02d}-{self.name}"

    @property
    def top1(self) -> float | None:
        """Validation top-1 (None when not measured)."""
        return (self.metrics.get("accuracy") or {}).get("top1")

    def latency_records(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(device slug, device description, latency record) from metrics.json and every bench file.

        One answer per machine: a `compress bench` on the run's own machine (same machine fingerprint)
        supersedes the run's records for the runtimes and batch sizes it measured (its stages were timed
        together then); those are listed by `superseded_records`. Another machine is shown beside it."""
        return self._records()[0]

    def current_latency(self) -> list[dict[str, Any]]:
        """The latency records on the run's own machine as the report uses them (a re-timing or a bench
        here in place of the records it superseded): what `compress run`'s terminal table shows too."""
        device = self.metrics.get("device") or {}
        own = device_slug(device) if device else "unknown"
        return [rec for slug, _, rec in self.latency_records() if slug == own]

    def superseded_records(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """The run's own latency records that a bench on the same machine measured again (kept on disk)."""
        return self._records()[1]

    def _records(self) -> tuple[list[tuple[str, dict[str, Any], dict[str, Any]]],
                                list[tuple[str, dict[str, Any], dict[str, Any]]]]:
        from toolkit.measure.device import same_machine

        device = self.metrics.get("device") or {}
        own = device_slug(device) if device else "unknown"
        here = {slug: bool(device) and same_machine(bench.get("device") or {}, device)
                for slug, bench in self.measurements.items()}
        remeasured: dict[tuple[Any, Any], str] = {}  # (runtime, batch) -> who measured it here again, when
        for slug, bench in self.measurements.items():
            for rec in bench.get("latency") or [] if here[slug] else []:
                by = bench.get("retimed_by") if isinstance(bench.get("retimed_by"), str) else "compress bench"
                remeasured[(rec.get("runtime"), rec.get("batch_size"))] = f"{by} at {bench.get('measured') or '?'}"
        active: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        superseded = []
        for rec in self.metrics.get("latency") or []:
            when = remeasured.get((rec.get("runtime"), rec.get("batch_size")))
            if when is None:
                active.append((own, device, rec))
            else:
                superseded.append((own, device, {**rec, "superseded_by": when}))
        for slug, bench in sorted(self.measurements.items()):
            by = bench.get("retimed_by") if isinstance(bench.get("retimed_by"), str) else "compress bench"
            for rec in bench.get("latency") or []:
                rec = {**rec, "measured_by": by, "remeasured": bench.get("measured")}
                active.append((own, device, rec) if here[slug] else (slug, bench.get("device") or {}, rec))
        return active, superseded


@dataclass
class RunView:
    """A run folder: its run.json, recipe text and stages."""

    path: Path
    run: dict[str, Any]
    recipe_text: str
    stages: list[StageView]

    @property
    def name(self) -> str:
        """The run's name."""
        return str(self.run.get("name") or self.path.name)

    @cached_property
    def peers(self) -> tuple[list[dict[str, Any]], list[str]]:
        """(usable peers, problems) from the folder's peers.json, read once (`toolkit.report.peers`)."""
        from toolkit.report.peers import read_peers

        return read_peers(self.path)

    def baseline(self) -> StageView | None:
        """The first measured stage (the trained or input model) that the others are compared with."""
        return next((s for s in self.stages if s.status == OK and s.top1 is not None), None)

    def devices(self) -> dict[str, dict[str, Any]]:
        """Every device measured in this run, by slug."""
        found: dict[str, dict[str, Any]] = {}
        for stage in self.stages:
            for slug, device, _ in stage.latency_records():
                found.setdefault(slug, device)
        return found


def _stage(run_dir: Path, entry: dict[str, Any]) -> StageView:
    from toolkit.layout import STAGE_DIR

    name = str(entry.get("dir", ""))
    if not STAGE_DIR.match(name) or name.startswith("."):
        return StageView(int(entry.get("index", 0) or 0), str(entry.get("name", "?")), "?", MISSING,
                         f"run.json names the stage folder {name!r}, which is not a stage folder name", {})
    directory = run_dir / name
    try:
        raw = read_json(directory / "metrics.json")
        record = read_metrics(raw)  # typed sections; misfits dropped
        metrics = record.as_dict() if record is not None else {}
    except ValueError:
        raw, metrics = None, {}
    measurements = {}
    for path in sorted((directory / "measurements").glob("*.json")):
        try:
            bench = read_bench(read_json(path))
        except ValueError:
            continue
        if bench is not None:
            measurements[path.stem] = bench.as_dict()
    status = metrics.get("status") or entry.get("status") or MISSING
    reason = metrics.get("reason") or entry.get("reason")
    if not metrics and status == OK:
        status, reason = MISSING, f"{directory.name}/metrics.json is missing or unreadable"
    return StageView(int(entry.get("index") or 0), str(entry.get("name") or directory.name),
                     str(entry.get("type") or metrics.get("stage") or "?"), status, reason, metrics, measurements,
                     _integrity(directory, raw))


def _integrity(directory: Path, raw: Any) -> str | None:
    """Why a stage's numbers are not the ones its run wrote (seal or file hashes broken), or None. Files
    written before seals (format 0 and 1) cannot be checked and are not flagged."""
    from toolkit.layout import SEAL, stage_problem
    from toolkit.records import SEALED_SINCE

    if not isinstance(raw, dict):
        return None
    version = raw.get("format_version", 0)
    if SEAL not in raw and type(version) is int and version < SEALED_SINCE:
        return None
    wrote_nothing = raw.get("status") in (SKIPPED, FAILED)  # e.g. an engine stage without TensorRT: no files
    return stage_problem(directory, raw, frozenset({"model.onnx", "model.fp32.onnx"}), no_files_ok=wrote_nothing)


def read_run(run_dir: Path) -> RunView:
    """Load one run folder for the report; a folder without run.json is a clear error."""
    run_dir = Path(run_dir)
    try:
        record = read_run_record(read_json(run_dir / "run.json"))
    except ValueError as exc:
        raise UserInputError(f"{run_dir} is not a run folder ({exc})") from None
    if record is None:
        raise UserInputError(f"{run_dir / 'run.json'}: not a JSON object; this is not a run folder of the toolkit")
    run = record.as_dict()
    try:
        recipe_text = (run_dir / "recipe.yaml").read_text(encoding="utf-8")
    except (OSError, ValueError):  # missing, unreadable or not UTF-8 text
        recipe_text = ""
    stages = [_stage(run_dir, entry) for entry in run.get("stages") or []]
    # Only the stage the run was inside when it failed gets the run's error; a --strict stop (status
    # "stopped") happens after the degraded stage was recorded, and the stages after it never ran.
    failed_stage = run.get("failed_stage")
    if run.get("status") in RUN_ERRORED and run.get("error") and failed_stage:
        done = {s.name for s in stages}
        pending = [s for s in (run.get("planned") or []) if s.get("name") not in done
                   and f"{int(s.get('index') or 0):02d}-{s.get('name')}" == failed_stage]
        for entry in pending[:1]:
            stages.append(StageView(int(entry.get("index") or 0), entry.get("name") or "?", entry.get("type") or "?",
                                    run["status"], run["error"], {}))
    return RunView(run_dir, run, recipe_text, stages)
