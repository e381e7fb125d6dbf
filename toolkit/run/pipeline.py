"""Run a recipe: validate, pre-flight, then each stage with content-keyed caching, resume and measurement."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from toolkit.artifacts import Model
from toolkit.context import EarlierStage, StageContext, StageLog, StageResult
from toolkit.errors import ToolkitError
from toolkit.measure.interrupts import caused_by_interrupt
from toolkit.finite import check_input_finite, input_model_source
from toolkit.fsutil import atomic_write_text, disk_error, file_hash, run_lock, stable_hash
from toolkit.layout import OUTPUT_FILE
from toolkit.measure.device import describe_device
from toolkit.recipe import Recipe
from toolkit.records import COMPLETE, FAILED, HAS_MODEL, INPUT_STAGE, INTERRUPTED, OK, RUNNING, STOPPED
from toolkit.run.folder import RunFolder
from toolkit.run.follow import follow
from toolkit.run.plan import RunResult, RunState, stage_plan
from toolkit.run.preflight import preflight, untrained_warning
from toolkit.run.retime import retime_if_mixed
from toolkit.run.share import reuse_shared, stage_claim
from toolkit.run.stage_runner import StageOutcome, load_output, remeasure, remeasure_reason, run_stage
from toolkit.run.timing import compute_time, invocation_start, wall_time
from toolkit.run.verdict import DEGRADED, StageDegradedError, StageJudge, degraded_message, record_verdict
from toolkit.stages import get_stage
from toolkit.version import __version__


class Runner:
    """Runs a validated recipe into its run folder (the engine behind `toolkit.Pipeline` and `compress run`)."""

    def __init__(self, recipe: Recipe, *, console=None, fresh: bool = False,
                 hooks: dict[str, list[Callable[..., Any]]] | None = None,
                 model: nn.Module | None = None, data=None, source_key: str | None = None, cacheable: bool = True,
                 dist=None, strict: bool = False):
        self.strict = strict  # a degraded stage stops the run (StageDegradedError) instead of being recorded
        self.recipe, self.console, self.fresh, self.cacheable = recipe, console, fresh or not cacheable, cacheable
        self.dist = dist  # toolkit.distributed.Dist: rank 0 writes, the other ranks follow (see _follow)
        self.main = dist is None or dist.is_main
        self.hooks = hooks or {}
        self.user_model, self.user_data, self.source_key = model, data, source_key
        self.folder = RunFolder(recipe.run_dir)

    def input_key(self) -> str:
        """The cache key of the run's input: model spec (and checkpoint hash), data spec, seed, toolkit version."""
        model = self.recipe.model.model_dump(mode="json")
        if self.recipe.model.checkpoint is not None:
            model["checkpoint_sha256"] = file_hash(Path(self.recipe.model.checkpoint))
        data = self.recipe.data.key_dict(exclude={"workers", "eval_batch_size"})
        return stable_hash({"model": model, "data": data, "seed": self.recipe.seed, "toolkit": __version__,
                            "source": self.source_key})

    def _preflight(self):
        """Build data and the input model, and run one image through it, before anything is written."""
        device, data, model = preflight(self.recipe, user_data=self.user_data, user_model=self.user_model,
                                        say=self._say)
        if self.user_model is not None:  # wrapped for its logits: every stage uses the wrapped module
            self.user_model = model
        return device, data, model

    def _model_spec(self, data) -> dict[str, Any]:
        spec = self.recipe.model.model_dump(mode="json")
        spec.update(weights=None, checkpoint=None)  # weights come from the saved file, not from these
        shape = data.input_shape  # channels only when not 3: the specs (and keys) of earlier runs stay as they were
        return {"model": spec, "num_classes": data.num_classes, "image_size": shape.image_size,
                **({"channels": shape.channels} if shape.channels != 3 else {})}

    def run(self, command_started: float | None = None) -> RunResult:
        """Run every stage (cached ones are loaded, not recomputed); returns the RunResult.

        `command_started` (seconds since the epoch): when the command began, so that run.json's wall time
        includes start-up and data preparation; None counts from this call."""
        self.invocation = invocation_start(command_started)  # before the pre-flight: data preparation counts
        device, data, input_model = self._preflight()
        if not self.main:
            return follow(self, device, data, input_model)
        try:
            with run_lock(self.folder.root):
                return self._run_locked(device, data, input_model)
        except OSError as exc:  # disk full, read-only folder: complete stage folders are untouched
            raise disk_error(exc, Path(exc.filename) if exc.filename else self.folder.root) from None

    def plan(self) -> list[tuple[int, str]]:
        """(folder index, name) of every step of this run, the same on every rank."""
        return stage_plan([s.stage_type for s in self.recipe.stages], [s.name for s in self.recipe.stages])

    def _run_locked(self, device, data, input_model) -> RunResult:
        recipe, folder, plan = self.recipe, self.folder, self.plan()
        run_info = {"name": recipe.name, "toolkit_version": __version__, "status": RUNNING,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "finished": None, "seconds": None,
                    "device": describe_device(), "data": data.describe(), "stages": [], "report": None,
                    "planned": [{"index": i, "name": n, "type": recipe.stages[i - 1].stage_type if i else INPUT_STAGE}
                                for i, n in plan]}
        removed = folder.prepare(plan)  # refuses foreign folders and links out; removes only our stale stages
        atomic_write_text(folder.root / "recipe.yaml", recipe.to_yaml())
        folder.write_run(run_info)
        log = StageLog(folder.root / "log.txt", None, "")
        log.info(f"run {recipe.name} started: {len(plan)} stage(s), device {device}")
        for path, why in data.info.get("bad_files", []):
            log.warning(f"skipped data file {path}: {why}")
        data.on_streamed_bad_file(
            lambda path, why: log.warning(f"skipped data file {path} (found while streaming): {why}"))
        if data.info.get("bad_file_count"):
            self._say(f"data: {data.info['bad_file_count']} unreadable or non-image file(s) skipped; "
                      f"listed in {folder.root / 'log.txt'}")
        untrained = untrained_warning(recipe, self.user_model)
        if untrained:  # in run.json for the report, in log.txt and on the terminal
            run_info["warnings"] = [untrained]
            folder.write_run(run_info)
            log.warning(untrained)
            self._say(f"warning: {untrained}")
        state = RunState(current=input_model, previous=lambda: input_model, key=self.input_key())
        self.judge = StageJudge(recipe)
        try:
            for index, name in plan:
                run_info["failed_stage"] = f"{index:02d}-{name}"  # the stage an exception from here belongs to
                outcome = self._step(index, name, data, device, state)
                run_info.pop("failed_stage")
                log.info(outcome.log_line())
                run_info["stages"] = [o.summary() for o in state.outcomes]
                folder.write_run(run_info)
                if self.strict and outcome.status == DEGRADED:
                    raise StageDegradedError(f"--strict: {degraded_message([outcome])}")
        except BaseException as exc:
            # --strict stops after the degraded stage ran and was recorded: no stage failed
            run_info["status"] = (INTERRUPTED if isinstance(exc, KeyboardInterrupt) or caused_by_interrupt(exc) else
                                  STOPPED if isinstance(exc, StageDegradedError) else FAILED)
            run_info["error"] = str(exc) or type(exc).__name__
            run_info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            try:  # best effort: on a full disk this fails too, and must not replace the original error
                folder.write_run(run_info)
                log.info(f"run {run_info['status']}: {run_info['error']}")
            except (ToolkitError, OSError):
                pass
            raise
        run_info.update(status=COMPLETE, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        **wall_time(self.invocation), removed_stale=removed,
                        **compute_time(state.outcomes))
        folder.write_run(run_info)  # the report reads run.json: it must already say "complete"
        try:
            retimed = retime_if_mixed(state.outcomes, state.loaders, data, recipe.measure, log.info)
            if retimed:
                self._say(retimed)
            report_path = self._report(run_info)
        except KeyboardInterrupt:  # every stage is whole, but the run did not finish: never "complete"
            run_info.update(status=INTERRUPTED, error="interrupted after the last stage, before the report "
                                                      "was written (compress report RUN_DIR builds it)")
            folder.write_run(run_info)
            log.info(f"run {INTERRUPTED}: {run_info['error']}")
            raise
        run_info.update(wall_time(self.invocation, after_report=True))
        folder.write_run(run_info)
        log.info(f"run complete: {run_info['compute_seconds']} s of stage compute, this invocation "
                 f"{run_info['seconds']} s; report {report_path}")
        return RunResult(folder.root, state.outcomes, COMPLETE, report_path, state.loaders)

    def _step(self, index: int, name: str, data, device, state: RunState) -> StageOutcome:
        """Run, resume or reuse one stage; update the chain state."""
        recipe, folder = self.recipe, self.folder
        cfg = recipe.stages[index - 1] if index else None
        stage_type = cfg.stage_type if cfg else INPUT_STAGE
        state.key = self.next_key(state.key, cfg)
        measure_key = stable_hash(recipe.measure.model_dump(mode="json", exclude={"max_stage_drop"}))
        ctx = self.stage_context(index, name, data, device, state.earlier)
        cached = None if self.fresh else (folder.cached(index, name, state.key)
                                          or reuse_shared(folder, index, name, state.key))  # another run's
        with contextlib.ExitStack() as held:  # a stage computed here is claimed: another run needing it waits
            if cached is None and self.main and not self.fresh:
                cached = held.enter_context(stage_claim(folder, index, name, state.key, self._say_logged))
            if cached is None:
                ctx.stage_dir = folder.begin(index, name, state.key, fresh=self.fresh)
            # The other ranks join the stage function only if it trains and has not already finished here
            # (an interrupted run may have left its output, with only the measurement to redo).
            joins = cached is None and cfg is not None and cfg.trains() and not (ctx.stage_dir / OUTPUT_FILE).is_file()
            if self.dist is not None:
                self.dist.broadcast((cached is not None, joins))  # also the sync point: the partial folder exists
            if cached is not None:
                directory = folder.stage_dir(index, name)
                loader = self.disk_loader(directory, cached)
                why = remeasure_reason(cached, measure_key)
                if why is not None:
                    ctx.stage_dir = directory
                    ctx.log = StageLog(directory / "log.txt", self.console, f"[{index:02d}-{name}]")
                    ctx.log.info(f"{why}: its model is reused, its accuracy and latency are measured again here")
                    cached = remeasure(directory, cached, loader(), ctx, measure_key)
                outcome = StageOutcome(index, name, stage_type, directory, state.key, cached.get("status", OK), True,
                                       float(cached.get("seconds", 0.0)), cached.get("reason"),
                                       cached["model"]["format"], cached)
                self._say(f"{directory.name}: cached")
                state.current = None
            else:
                model = state.current if state.current is not None else state.previous()
                check_input_finite(model, state.outcomes[-1].directory.name if state.outcomes else None, name,
                                   input_model_source(recipe.model, self.user_model is not None))
                ctx.log = StageLog(ctx.stage_dir / "log.txt", self.console, f"[{index:02d}-{name}]")
                fn = get_stage(stage_type).fn if cfg else (lambda m, c, x: StageResult(m))
                outcome, state.current = run_stage(fn, cfg, model, ctx, folder, stage_type, state.key, measure_key,
                                                   self.user_model)
                loader = self.disk_loader(outcome.directory, outcome.metrics) if outcome.status in HAS_MODEL \
                    else state.previous
        record_verdict(self.judge, outcome, data.num_classes)  # before the barrier: the other ranks read it
        state.previous = loader
        state.outcomes.append(outcome)
        state.loaders[name] = loader
        state.earlier.append(EarlierStage(index, name, stage_type, outcome.directory, outcome.format or "torch",
                                          loader))
        if self.dist is not None:
            self.dist.barrier()  # the stage folder is final: the other ranks may read it
        return outcome

    def next_key(self, key: str, cfg) -> str:
        """The cache key of a stage: its options, its input's key, recipe context, toolkit version."""
        if cfg is None:
            return key
        return stable_hash({"input": key, "stage": cfg.stage_type, "config": cfg.key_dict(),
                            "context": cfg.facts_key(), "toolkit": __version__})

    def _report(self, run_info: dict[str, Any]) -> Path | None:
        try:
            from toolkit.report import write_report
        except ImportError:
            return None
        try:
            path = write_report([self.folder.root], self.folder.root / "report.html")
        except ToolkitError as exc:  # the stages are done and recorded: a report problem must not undo that
            message = f"the report could not be built ({exc}); every stage is complete in {self.folder.root}"
            run_info["warnings"] = [*(run_info.get("warnings") or []), message]
            for stale in ("report.html", "summary.json", "summary.md"):  # an earlier run's report is not this one
                (self.folder.root / stale).unlink(missing_ok=True)
            self._say(f"warning: {message}")
            return None
        run_info["report"] = path.name
        return path

    def stage_context(self, index: int, name: str, data, device, earlier) -> StageContext:
        data_key = stable_hash({"data": self.recipe.data.key_dict(), "source": self.source_key,
                                "seed": self.recipe.seed})
        return StageContext(data_key=data_key, cache_ok=self.cacheable, dist=self.dist,
            rank=self.dist.rank if self.dist else 0, world_size=self.dist.world_size if self.dist else 1,
            measure=self.recipe.measure, stage_type=self.recipe.stages[index - 1].stage_type if index else INPUT_STAGE,
            data=data, device=device, seed=self.recipe.seed * 1000 + index, index=index,
            name=name, stage_dir=self.folder.partial_dir(index, name), run_dir=self.folder.root,
            log=StageLog(self.folder.stage_dir(index, name) / "log.txt", None, name),
            model_spec=self._model_spec(data), input_spec=self.recipe.model, earlier=list(earlier),
            console=self.console, hooks=self.hooks)

    def disk_loader(self, directory: Path, metrics: dict[str, Any]) -> Callable[[], Model]:
        """Load a stage's model from its folder on each call (callers may change what they get)."""
        return lambda: load_output(directory, metrics, self.user_model, allowed_arch=self.recipe.model.arch)

    def _say_logged(self, message: str) -> None:
        """A line for the terminal and the run's log.txt (a wait on another run shows in both)."""
        StageLog(self.folder.root / "log.txt", self.console, "").info(message)

    def _say(self, message: str) -> None:
        if self.console is not None:
            self.console.print(message, highlight=False, markup=False)


def run_recipe(recipe: Recipe | str | Path, *, overrides: list[str] | None = None, fresh: bool = False,
               console=None, hooks=None, strict: bool = False, command_started: float | None = None) -> RunResult:
    """Load (if a path) and run a recipe; `command_started` as in Runner.run."""
    from toolkit.distributed import from_env
    from toolkit.recipe import load_recipe

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        raise ToolkitError("overrides apply to recipe files; change the Recipe object instead")
    dist = from_env()  # set up by torchrun; None in a single process
    try:
        return Runner(recipe, console=console if dist is None or dist.is_main else None, fresh=fresh,
                        hooks=hooks, dist=dist, strict=strict).run(command_started)
    finally:
        if dist is not None:
            dist.close()
