"""Run one stage inside its partial folder: call it, save its model, measure it, finalize the folder."""

from __future__ import annotations

import random
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.artifacts import MODEL_FORMATS as MODEL_FILE_FORMATS
from toolkit.artifacts import Model, ModelArtifact, model_format
from toolkit.context import StageContext, StageResult
from toolkit.errors import ArtifactError, StageSkipped, ToolkitError
from toolkit.fsutil import atomic_write_json, read_json
from toolkit.layout import CONFIG, OUTPUT_FILE, content_hashes, safe_name
from toolkit.measure.interrupts import reraise_if_interrupted
from toolkit.measure.model import measure_model
from toolkit.measure.profile import count_macs_params
from toolkit.models.io import load_model, save_model
from toolkit.records import OK, SKIPPED
from toolkit.run.folder import RunFolder, write_metrics


@dataclass
class StageOutcome:
    """What happened to one stage in this run."""

    index: int
    name: str
    type: str
    directory: Path
    key: str
    status: str
    cached: bool
    seconds: float
    reason: str | None = None
    format: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The run.json entry."""
        return {"index": self.index, "name": self.name, "type": self.type, "dir": self.directory.name,
                "key": self.key, "status": self.status, "cached": self.cached, "seconds": round(self.seconds, 3),
                "reason": self.reason, "format": self.format}

    def log_line(self) -> str:
        """The run log's line, e.g. "02-prune: ok, target missed (the stage's log.txt says by how much); round_to
        auto: 8 (measured: ...)". What a stage chose or missed is said here too, so the run's log.txt reads
        without opening every stage's own."""
        line = f"{self.directory.name}: {'cached' if self.cached else self.status}"
        line += f" ({self.reason})" if self.reason else ""
        extra = self.metrics.get("extra") or {}
        if extra.get("target_met") is False:
            line += ", target missed (the stage's log.txt says by how much)"
        chosen = extra.get("round_to")
        if isinstance(chosen, dict) and chosen.get("value") is not None:
            why = f": {chosen['reason']}" if chosen.get("reason") else ""
            line += f"; round_to auto: {chosen['value']} ({chosen.get('how', 'chosen')}{why})"
        return line


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so a stage's result does not depend on what ran before it."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def load_output(directory: Path, metrics: dict[str, Any], base_model: nn.Module | None, *,
                trust_code: bool = False, allowed_arch: str | None = None) -> Model:
    """Rebuild the model a finished stage saved (no pickle; code only from a vouched-for architecture)."""
    info = metrics.get("model") if isinstance(metrics, dict) else None
    info = info if isinstance(info, dict) else {}
    if not safe_name(str(info.get("file", ""))):
        raise ArtifactError(f"{directory / 'metrics.json'}: model file name {info.get('file')!r} is not a plain "
                            f"file name in the stage folder")
    if info.get("format") == "torch":
        return load_model(directory, base_model, trust_code=trust_code, allowed_arch=allowed_arch)
    if info.get("format") not in MODEL_FILE_FORMATS:
        raise ArtifactError(f"{directory / 'metrics.json'}: unknown model format {info.get('format')!r}")
    meta = {k: info.get(k) for k in ("params", "macs")}
    extra_meta = metrics.get("artifact_meta")
    meta.update(extra_meta if isinstance(extra_meta, dict) else {})
    return ModelArtifact(info["format"], directory / info["file"], meta)


def _artifact_meta(result_model: Model, input_model: Model, ctx: StageContext) -> dict[str, Any]:
    """Carry params/MACs from the torch model an artifact was made from."""
    meta = dict(result_model.meta) if isinstance(result_model, ModelArtifact) else {}
    if isinstance(input_model, nn.Module) and ("macs" not in meta or "params" not in meta):
        meta["macs"], meta["params"] = count_macs_params(input_model, ctx.example_input(1))
    elif isinstance(input_model, ModelArtifact):
        meta = {**{k: input_model.meta.get(k) for k in ("params", "macs")}, **meta}
    return meta


def run_stage(fn, cfg, model: Model, ctx: StageContext, folder: RunFolder, stage_type: str, key: str,
              measure_key: str, base_model: nn.Module | None) -> tuple[StageOutcome, Model]:
    """Run (or resume) one stage and measure its model; returns the outcome and the model for the next stage."""
    partial = ctx.stage_dir
    atomic_write_json(partial / CONFIG, {"stage": stage_type, "name": ctx.name, "index": ctx.index, "key": key,
                                         "config": cfg.model_dump(mode="json") if cfg is not None else {}})
    seed_everything(ctx.seed)
    start = time.perf_counter()
    status, reason, extra = OK, None, {}
    try:
        saved = read_json(partial / OUTPUT_FILE)
    except ValueError:
        saved = None
    if saved and isinstance(saved, dict):  # the stage itself finished before an interruption: only measurement is left
        ctx.log.info("stage output found from an interrupted run; measuring it")
        new_model = load_output(partial, saved, base_model, allowed_arch=ctx.model_spec["model"]["arch"])
        extra, seconds_before = saved.get("extra", {}), float(saved.get("seconds", 0.0))
        artifacts = saved.get("artifacts", {})
    else:
        seconds_before = 0.0
        try:
            result = fn(model, cfg, ctx)
        except StageSkipped as skip:
            result, status, reason = StageResult(None), SKIPPED, skip.reason
            ctx.log.info(f"skipped: {skip.reason}")
        except KeyboardInterrupt:
            raise
        except ToolkitError as exc:
            reraise_if_interrupted(exc)  # a toolkit error wrapping an interrupt: the run was interrupted
            raise
        except Exception as exc:
            reraise_if_interrupted(exc)  # native code re-raises an interrupt as its own type: not a failure
            ctx.log.file_only("failed:\n" + traceback.format_exc())  # the raised error is the console's one line
            raise ToolkitError(f"stage {ctx.name} failed: {type(exc).__name__}: {exc} "
                               f"(traceback in {ctx.stage_dir / 'log.txt'})") from exc
        extra = result.metrics
        artifacts = {k: v for k, v in result.artifacts.items() if safe_name(v) and (partial / v).is_file()}
        passthrough = result.model is None
        new_model = model if passthrough else result.model
        if status == OK:
            if passthrough and isinstance(model, ModelArtifact):  # unchanged file: the stage keeps its own copy
                new_model = _copy_in(model, partial)
            output = _save(new_model, model, ctx)
            atomic_write_json(partial / OUTPUT_FILE, {**output, "extra": extra, "artifacts": artifacts,
                                                      "seconds": time.perf_counter() - start})
            if isinstance(new_model, ModelArtifact):
                new_model = load_output(partial, output, base_model, allowed_arch=ctx.model_spec["model"]["arch"])
    seconds = seconds_before + time.perf_counter() - start
    metrics: dict[str, Any] = {"stage": stage_type, "name": ctx.name, "index": ctx.index, "status": status,
                               "reason": reason, "seconds": round(seconds, 3), "key": key, "measure_key": measure_key}
    if status == OK:
        metrics.update(measure_model(new_model, data=ctx.data, spec=ctx.measure, stage_dir=partial,
                                     device=ctx.device, log=ctx.log, earlier=_earlier(folder.root, ctx, measure_key)))
        if isinstance(new_model, ModelArtifact):
            metrics["artifact_meta"] = new_model.meta
    metrics["extra"] = extra
    metrics["artifacts"] = artifacts if status == OK else {}
    metrics["files"] = content_hashes(partial)  # a cached stage is reused only while all of these are unchanged
    metrics = write_metrics(partial, metrics)  # checked against toolkit.records.StageMetrics, versioned
    (partial / OUTPUT_FILE).unlink(missing_ok=True)
    final = folder.finalize(ctx.index, ctx.name)
    if status == OK and isinstance(new_model, ModelArtifact):  # skipped stages pass their input on unmoved
        new_model = new_model.moved_to(final)
    outcome = StageOutcome(ctx.index, ctx.name, stage_type, final, key, status, False, seconds, reason,
                           model_format(new_model), metrics)
    return outcome, new_model


def _copy_in(artifact: ModelArtifact, directory: Path) -> ModelArtifact:
    """A copy (a hard link where the file system allows) of an unchanged model file inside `directory`."""
    import os
    import shutil

    target = Path(directory) / artifact.path.name
    if not target.exists():
        try:
            os.link(artifact.path, target)
        except OSError:
            shutil.copy2(artifact.path, target)
    return ModelArtifact(artifact.format, target, dict(artifact.meta))


def _save(new_model: Model, input_model: Model, ctx: StageContext) -> dict[str, Any]:
    """Save a torch result as safetensors+structure; check an artifact result lives in the stage folder."""
    if isinstance(new_model, nn.Module):
        save_model(new_model, ctx.stage_dir, ctx.model_spec)
        return {"model": {"format": "torch", "file": "model.safetensors"}}
    if Path(new_model.path).parent.resolve() != ctx.stage_dir.resolve():
        raise ToolkitError(f"stage {ctx.name} returned {new_model.path}, which is outside its folder {ctx.stage_dir}")
    new_model.meta = _artifact_meta(new_model, input_model, ctx)
    return {"model": {"format": new_model.format, "file": new_model.path.name,
                      "params": new_model.meta.get("params"), "macs": new_model.meta.get("macs")},
            "artifact_meta": new_model.meta}


def remeasure(directory: Path, metrics: dict[str, Any], model: Model, ctx: StageContext, measure_key: str) -> dict:
    """Measure a cached stage again after the recipe's `measure:` changed (its model is not recomputed)."""
    metrics = dict(metrics)
    metrics.update(measure_model(model, data=ctx.data, spec=ctx.measure, stage_dir=directory,
                                 device=ctx.device, log=ctx.log, earlier=_earlier(directory.parent, ctx, measure_key)))
    metrics["measure_key"] = measure_key
    metrics["files"] = content_hashes(directory)
    return write_metrics(directory, metrics)


def remeasure_reason(metrics: dict[str, Any], measure_key: str) -> str | None:
    """Why a reused stage's measurements cannot stand here (other `measure:` settings, or measured on
    another machine: a shared sibling's latencies are never this machine's), or None when they can."""
    from toolkit.measure.device import describe_device, same_machine

    if metrics.get("measure_key") != measure_key:
        return "the recipe's measure: settings changed since this stage was measured"
    recorded = metrics.get("device")
    if metrics.get("latency") and not same_machine(recorded, describe_device()):
        where = (recorded or {}).get("cpu") if isinstance(recorded, dict) else None
        return f"this stage was measured on another machine ({str(where or 'unknown')[:60]})"
    return None


def _earlier(run_dir: Path, ctx: StageContext, measure_key: str) -> list[tuple[str, dict[str, Any]]]:
    """Earlier stages' latency records on this machine: an identical network reuses them (measured once)."""
    from toolkit.measure.device import describe_device
    from toolkit.measure.reuse import earlier_records

    return earlier_records(run_dir, ctx.index, describe_device(), measure_key)
