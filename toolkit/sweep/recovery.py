"""Trials whose worker is gone: found, failed with the reason, and queued again so that another worker runs them.

A worker can vanish mid-trial (`kill -9`, the out-of-memory killer, a reboot). Its trial stays RUNNING in the
study and would hold its place in the budget for ever. Three ways find it:
- on this machine, a RUNNING trial whose worker process (`host`, `pid` and the process's start time, recorded
  on the trial when it starts) no longer runs: any live worker and the coordinator check this before they
  start or stop;
- on another machine (PostgreSQL), Optuna's heartbeat: the storage fails a trial whose worker has not beaten
  for the grace period (`open_storage(heartbeat_s=...)`), and `requeue_lost` is its callback;
- with the journal file, the coordinator holds the sweep folder's lock, so a trial RUNNING when it starts has
  no live worker at all (`fail_lost_trials(..., every_running=True)`).
A lost or interrupted trial does not count against the budget; it is queued again with `retry_of` naming its
run folder, so the stages it had finished are kept.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections import Counter
from typing import Any

LOST_REASON = "its worker stopped without recording it (killed?); run again"
MAX_ATTEMPTS = 3  # a variant that kills its worker each time (a native crash) is not run a fourth time


def worker_identity() -> dict[str, Any]:
    """This process as a trial records it: host name, pid and the process's start time (seconds since the
    epoch, so that a reused pid is not taken for the worker)."""
    import psutil

    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_started": psutil.Process().create_time()}


def _gone(attrs: dict[str, Any]) -> bool:
    """Whether the worker a trial names ran on this machine and no longer runs."""
    import psutil

    if attrs.get("host") != socket.gethostname() or not isinstance(attrs.get("pid"), int):
        return False  # another machine's worker: the heartbeat decides
    try:
        return abs(psutil.Process(attrs["pid"]).create_time() - float(attrs.get("pid_started") or 0)) > 1.0
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, TypeError, ValueError):
        return False  # cannot tell (permissions): leave it to the heartbeat


def is_lost(trial: Any) -> bool:
    """A failed trial that did not finish on its own: interrupted (Ctrl-C), or failed by the heartbeat or by a
    worker check without a reason of its own. It is run again and does not count."""
    return trial.state.name == "FAIL" and (bool(trial.user_attrs.get("interrupted"))
                                           or "reason" not in trial.user_attrs)


def counted(trials: list[Any]) -> int:
    """Trials that use up the budget: complete, or failed for a reason of their own (not lost, not interrupted)."""
    return sum(1 for t in trials if t.state.name == "COMPLETE" or (t.state.name == "FAIL" and not is_lost(t)))


def taken(trials: list[Any]) -> int:
    """Counted trials and those running now (another worker's): a worker starts a trial only below the budget."""
    return counted(trials) + sum(1 for t in trials if t.state.name == "RUNNING")


def fail_lost_trials(study: Any, *, every_running: bool = False) -> int:
    """Fail (as lost) the RUNNING trials whose worker process on this machine is gone, or every RUNNING trial
    when `every_running` (the journal's coordinator: no other worker can be live). Returns how many."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage, lost = study._storage, 0  # Study has no public name for its storage; the trial ids need it
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not (every_running or _gone(t.user_attrs)):
            continue
        trial_id = t._trial_id  # FrozenTrial has no public name for the storage's id
        try:
            storage.set_trial_user_attr(trial_id, "reason", LOST_REASON)
            storage.set_trial_user_attr(trial_id, "interrupted", True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            lost += 1
        except UpdateFinishedTrialError:
            continue  # another worker failed it first
    return lost


def requeue_lost(study: Any, _frozen: Any = None) -> int:
    """Queue again every lost or interrupted trial not queued yet (its params, `retry_of` naming its run
    folder). Also Optuna's heartbeat callback `(study, failed_trial)`. Returns how many were queued."""
    trials = study.get_trials(deepcopy=False)
    attempts = Counter(t.user_attrs.get("retry_of", t.number) for t in trials)
    queued: set[int] = set()
    for t in trials:
        folder = t.user_attrs.get("retry_of", t.number)
        if not is_lost(t) or folder in queued or _retried_later(t, trials):
            continue
        if attempts[folder] < MAX_ATTEMPTS:
            study.enqueue_trial(dict(t.params), user_attrs={"retry_of": folder})
            queued.add(folder)
    return len(queued)


def _retried_later(trial: Any, trials: list[Any]) -> bool:
    """Whether a later attempt of the same run folder exists (finished or not): then this one is history."""
    folder = trial.user_attrs.get("retry_of", trial.number)
    return any(t.number > trial.number and t.user_attrs.get("retry_of") == folder for t in trials)


def recover(study: Any) -> int:
    """What a live worker does before it starts or stops: fail the trials of dead local workers and, with a
    heartbeat storage, the stale ones; queue them again. Returns how many trials were queued."""
    import optuna

    fail_lost_trials(study)
    with warnings.catch_warnings():  # Optuna marks it experimental on every call; it is what RDBStorage documents
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # a no-op without a heartbeat (the journal)
    return requeue_lost(study)


def state_word(row: dict[str, Any]) -> str:
    """'lost' (its worker died), 'interrupted' (Ctrl-C): both are run again, not failed variants; else the
    state in lower case."""
    if row.get("interrupted"):
        return "lost" if row.get("reason") == LOST_REASON else "interrupted"
    return str(row["state"]).lower()
