"""Run a sweep on Optuna: each trial is an ordinary run folder `<sweep folder>/runs/trial-NNNN` made by the normal
pipeline, so the stage cache, sibling sharing and the stage locks compute a shared prefix (the baseline) once.

Workers are processes (`compress sweep RECIPE --worker`), each calling `study.optimize` on the same storage; the
same command on another machine with the same --storage joins. The budget counts finished trials (complete or
failed) except those a Ctrl-C interrupted: an interrupted trial is queued again on the next run, in its own run
folder, so what it had finished is kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.measure.interrupts import caused_by_interrupt
from toolkit.sweep.recovery import counted, fail_lost_trials, recover, requeue_lost, taken, worker_identity
from toolkit.sweep.results import TrialFailed, objective_values, trial_line, trial_rows, write_summary
from toolkit.sweep.spec import SweepPlan
from toolkit.sweep.storage import HEARTBEAT_S, open_storage, open_study

Say = Callable[[str], None]


def make_sampler(plan: SweepPlan, worker: int = 0) -> Any:
    """GridSampler (one seed for every worker: they must agree on the grid's order), else NSGA-II or TPE seeded
    from the recipe seed and the worker's index (the same seed in two workers would propose the same points)."""
    import optuna

    if plan.sampler == "grid":
        return optuna.samplers.GridSampler({d.path: d.values for d in plan.dimensions}, seed=plan.recipe.seed)
    if plan.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=plan.recipe.seed + worker)
    return optuna.samplers.NSGAIISampler(seed=plan.recipe.seed + worker)


def _suggest(trial: Any, plan: SweepPlan) -> dict[str, Any]:
    params = {}
    for d in plan.dimensions:
        if d.values is not None:
            params[d.path] = trial.suggest_categorical(d.path, d.values)
        elif d.integer:
            params[d.path] = trial.suggest_int(d.path, int(d.range.low), int(d.range.high),
                                               step=int(d.range.step or 1), log=d.range.log)
        else:
            params[d.path] = trial.suggest_float(d.path, d.range.low, d.range.high, step=d.range.step,
                                                 log=d.range.log)
    return params


class _Objective:
    """One trial: its recipe variant run into its run folder, its objective values read from the final stage."""

    def __init__(self, plan: SweepPlan, say: Say):
        self.plan, self.say = plan, say

    def __call__(self, trial: Any) -> list[float]:
        from toolkit.run.pipeline import run_recipe

        started = time.perf_counter()
        params = _suggest(trial, self.plan)
        others = [t for t in trial.study.get_trials(deepcopy=False) if t.number != trial.number]
        # Other workers took the rest of the budget meanwhile (GridSampler would repeat a running grid point)
        if taken(others) >= self.plan.budget:
            import optuna

            trial.set_user_attr("skipped", True)
            trial.study.stop()
            raise optuna.TrialPruned()
        folder = int(trial.user_attrs.get("retry_of", trial.number))
        if any(t.state.name == "RUNNING" and t.user_attrs.get("retry_of") == folder for t in others):
            import optuna  # two workers queued the same lost trial at once: one runs it

            trial.set_user_attr("skipped", True)
            raise optuna.TrialPruned()
        for key, value in worker_identity().items():  # how a dead worker's trial is found (sweep.recovery)
            trial.set_user_attr(key, value)
        run_name = f"trial-{folder:04d}"
        trial.set_user_attr("run_dir", str(self.plan.sweep_dir / "runs" / run_name))
        try:
            recipe = self.plan.trial_recipe(run_name, params)
            ran = time.perf_counter()
            result = run_recipe(recipe, console=None)
            ran = time.perf_counter() - ran
            values, where = objective_values(result.stages, self.plan.objectives)
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt) or caused_by_interrupt(exc)
            reason = "interrupted (queued again on the next run)" if interrupted else \
                str(exc) if isinstance(exc, (ToolkitError, TrialFailed)) else f"{type(exc).__name__}: {exc}"
            # one line: a RecipeError lists its problems on lines of their own
            reason = "; ".join(line.strip() for line in reason.splitlines() if line.strip()) or type(exc).__name__
            trial.set_user_attr("reason", reason)
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
            if interrupted:
                trial.set_user_attr("interrupted", True)
                raise
            raise TrialFailed(reason) from None
        total = time.perf_counter() - started
        trial.set_user_attr("final_stage", where)
        trial.set_user_attr("seconds", round(total, 3))
        trial.set_user_attr("overhead_s", round(total - ran, 3))  # the sweep's own cost beyond the run
        return values


def _after_trial(plan: SweepPlan, say: Say, announce: bool) -> Callable[[Any, Any], None]:
    def callback(study: Any, frozen: Any) -> None:
        if frozen.state.name == "PRUNED":
            return
        if announce:
            row = next(r for r in trial_rows(study, plan.objectives) if r["number"] == frozen.number)
            say(trial_line({**row, "pareto": False}))
        queued = recover(study)
        if queued:
            say(f"{queued} trial(s) of a stopped worker queued again")
        if taken(study.get_trials(deepcopy=False)) >= plan.budget and not _waiting(study):
            study.stop()
    return callback


@contextlib.contextmanager
def _optuna_quiet() -> Iterator[None]:
    """Optuna logs each trial (and a failed one's traceback) on stderr; the sweep prints its own line per trial.
    Its verbosity is restored afterwards (the library's logger is process-wide)."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def work(plan: SweepPlan, storage_url: str | None, worker: int = 0, say: Say = print,
         heartbeat_s: int = HEARTBEAT_S, announce: bool = True) -> None:
    """One worker: take trials from the study until the budget is used or the grid is done, saying a line per
    finished trial when `announce` (a live table shows them otherwise).

    Raises KeyboardInterrupt on Ctrl-C (the running trial is recorded as interrupted)."""
    storage = open_storage(storage_url, plan.sweep_dir, heartbeat_s=heartbeat_s)
    with _optuna_quiet():
        study = open_study(plan, storage, make_sampler(plan, worker))
        recover(study)
        if taken(study.get_trials(deepcopy=False)) >= plan.budget and not _waiting(study):
            return
        study.optimize(_Objective(plan, say), callbacks=[_after_trial(plan, say, announce)], catch=(TrialFailed,),
                       gc_after_trial=False)


def _waiting(study: Any) -> bool:
    return any(t.state.name == "WAITING" for t in study.get_trials(deepcopy=False))


def run_sweep(plan: SweepPlan, storage_url: str | None, workers: int = 1, say: Say = print,
              worker_args: list[str] | None = None, heartbeat_s: int = HEARTBEAT_S, console: Any = None) -> Any:
    """Run (or resume, or join) the sweep with `workers` local processes; write the summary; return the study.

    `worker_args`: the `compress` arguments that start one worker process (the CLI passes them); with one worker
    the trials run in this process. Raises UserInputError for a storage or study problem, KeyboardInterrupt on
    Ctrl-C (after the workers have stopped), ToolkitError when a worker process failed."""
    from toolkit.fsutil import run_lock

    storage = open_storage(storage_url, plan.sweep_dir, workers, heartbeat_s)
    # One coordinator per sweep folder: with the journal (this machine's workers only) a trial still RUNNING
    # when it starts lost its worker (killed), and is queued again like an interrupted one.
    with run_lock(plan.sweep_dir):
        with _optuna_quiet():
            study = open_study(plan, storage, make_sampler(plan))
            lost = fail_lost_trials(study, every_running=storage_url is None)
            queued = requeue_lost(study)
        if lost:
            say(f"{lost} trial(s) lost their worker (killed?); they are run again")
        if queued:
            say(f"{queued} interrupted trial(s) queued again")
        done = counted(study.get_trials(deepcopy=False))
        say(f"sweep {plan.recipe.name}: {done} of {plan.budget} trial(s) done; {workers} worker(s); "
            f"folder {plan.sweep_dir}")
        with _progress(plan, storage_url, heartbeat_s, console, say) as (say, live):
            quiet = ["--quiet"] if live else []
            if workers == 1 or worker_args is None:
                work(plan, storage_url, 0, say, heartbeat_s, announce=not live)
            elif _run_workers([*(worker_args or []), *quiet], workers, say):
                # a worker was killed: finish what it left, here
                work(plan, storage_url, workers, say, heartbeat_s, announce=not live)
        with _optuna_quiet():
            study = open_study(plan, storage, make_sampler(plan))
            write_summary(plan, study)
    return study


@contextlib.contextmanager
def _progress(plan: SweepPlan, storage_url: str | None, heartbeat_s: int, console: Any,
              say: Say) -> Iterator[tuple[Say, bool]]:
    """(say, live): the live table's `say` on a terminal console, else the plain one (a line per trial)."""
    if console is None:
        yield say, False
        return
    from toolkit.sweep.live import live_progress

    def reader() -> Any:
        with _optuna_quiet():
            return open_study(plan, open_storage(storage_url, plan.sweep_dir, heartbeat_s=heartbeat_s),
                              create=False)

    with live_progress(plan, reader, console) as live_say:
        yield live_say, True


def worker_env(workers: int, env: dict[str, str]) -> dict[str, str]:
    """The workers' environment: each gets an equal share of the CPUs as OpenMP threads (OMP_NUM_THREADS, which
    torch's intra-op pool follows), unless the user set it. N workers each running one thread per core
    oversubscribe the cores, and OpenMP threads spinning at their barriers while descheduled slowed fine-tuning
    from about 600 to 8 images/s (2 workers on 2 cores, Xeon, 2026-12-07)."""
    if workers > 1 and "OMP_NUM_THREADS" not in env:
        env = {**env, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers))}
    return env


def _run_workers(worker_args: list[str], workers: int, say: Say) -> bool:
    """Start the worker processes and wait for them; on Ctrl-C pass it on and wait for them to record it.

    Returns True when a worker was killed by a signal (its trial is queued again by the others, or by the
    coordinator afterwards). Raises KeyboardInterrupt when a worker was interrupted, ToolkitError when one
    exited with an error."""
    env = worker_env(workers, dict(os.environ))
    procs = [subprocess.Popen([sys.executable, "-m", "toolkit", *worker_args, "--worker-index", str(i)], env=env)
             for i in range(workers)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:  # the terminal's Ctrl-C reached them too; a `kill -INT` of this process did not
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    if any(c in (130, -signal.SIGINT) for c in codes):
        raise KeyboardInterrupt("a worker was interrupted")
    killed = [(i, -c) for i, c in enumerate(codes) if c < 0]
    for i, number in killed:
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        say(f"worker {i} was killed by {name}; its trial is run again")
    failed = [(i, c) for i, c in enumerate(codes) if c > 0]
    if failed:
        raise ToolkitError("worker process(es) failed: " + ", ".join(f"{i} (exit {c})" for i, c in failed)
                           + f"; run the same command again to resume (pid {os.getpid()})")
    return bool(killed)


def status_lines(plan: SweepPlan, storage_url: str | None) -> list[str]:
    """`compress sweep RECIPE --status`: a head line, then one line per trial (the Pareto set and the recommended
    trial marked). Raises UserInputError when there is no sweep yet, or it belongs to another recipe."""
    from toolkit.errors import UserInputError
    from toolkit.sweep.results import recommend
    from toolkit.sweep.storage import JOURNAL

    if storage_url is None and not (plan.sweep_dir / JOURNAL).is_file():
        raise UserInputError(f"no sweep yet in {plan.sweep_dir}: run `compress sweep {plan.source}` first")
    storage = open_storage(storage_url, plan.sweep_dir)
    with _optuna_quiet():
        study = open_study(plan, storage, create=False)
        rows = trial_rows(study, plan.objectives)
    chosen = recommend(rows, plan.objectives, plan.recipe.report.max_accuracy_drop)
    head = (f"sweep {plan.recipe.name}: {counted(study.get_trials(deepcopy=False))} of {plan.budget} trial(s) "
            f"done; objectives {', '.join(o.label for o in plan.objectives)}; folder {plan.sweep_dir}")
    return [head] + [trial_line(r) + (" | recommended" if r["number"] == chosen else "") for r in rows]
