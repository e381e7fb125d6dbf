"""The ranks other than 0 in a distributed run: they train with rank 0 and read everything else it writes."""

from __future__ import annotations

from typing import Any

from toolkit.context import EarlierStage, StageLog
from toolkit.errors import ToolkitError
from toolkit.records import COMPLETE, HAS_MODEL, INPUT_STAGE, OK
from toolkit.run.plan import RunResult, RunState
from toolkit.run.stage_runner import StageOutcome, seed_everything
from toolkit.stages import get_stage


def follow(pipeline: Any, device, data, input_model) -> RunResult:
    """Walk the same stage chain as rank 0: join its training stages, wait at its barriers, read its results.

    `pipeline` is this rank's toolkit.run.pipeline.Runner.

    Rank 0 decides what is cached (broadcast), prepares each stage folder, measures and writes; this rank
    writes nothing. After every stage it reloads rank 0's result from the run folder, so every rank goes on
    from the same model.
    """
    folder, dist = pipeline.folder, pipeline.dist
    state = RunState(current=input_model, previous=lambda: input_model, key=pipeline.input_key())
    for index, name in pipeline.plan():
        cfg = pipeline.recipe.stages[index - 1] if index else None
        stage_type = cfg.stage_type if cfg else INPUT_STAGE
        state.key = pipeline.next_key(state.key, cfg)
        ctx = pipeline.stage_context(index, name, data, device, state.earlier)
        cached, joins = dist.broadcast(None)  # rank 0's decision; its partial folder exists from here on
        if joins:
            ctx.stage_dir, ctx.log = folder.partial_dir(index, name), StageLog(None, None, "")
            model = state.current if state.current is not None else state.previous()
            seed_everything(ctx.seed)
            try:
                get_stage(stage_type).fn(model, cfg, ctx)  # this rank's share of the training
            except (ToolkitError, KeyboardInterrupt):
                raise
            except Exception as exc:  # one line from the toolkit, like rank 0's run_stage, not a traceback
                raise ToolkitError(f"stage {name} failed on rank {dist.rank}: {type(exc).__name__}: {exc}") from exc
        dist.barrier()  # rank 0 has finished and written the stage
        directory = folder.stage_dir(index, name)
        metrics = folder.read_metrics(directory) or {}  # through toolkit.records: typed values only
        status = metrics.get("status", OK)
        loader = pipeline.disk_loader(directory, metrics) if status in HAS_MODEL else state.previous
        outcome = StageOutcome(index, name, stage_type, directory, state.key, status, bool(cached),
                               float(metrics.get("seconds") or 0.0), metrics.get("reason"),
                               (metrics.get("model") or {}).get("format"), metrics)
        state.current, state.previous = None, loader
        state.outcomes.append(outcome)
        state.loaders[name] = loader
        state.earlier.append(EarlierStage(index, name, stage_type, directory, outcome.format or "torch", loader))
    return RunResult(folder.root, state.outcomes, COMPLETE, None, state.loaders)
