"""`compress run --nproc N`: start N processes with torchrun's standalone launcher, and speak once when one fails.

The launcher runs torchrun's own code in this process (torch.distributed.run) instead of a torchrun
subprocess, so that a failed rank ends with that rank's one toolkit error line and its exit code, not with
torchrun's ChildFailedError traceback and agent log lines. In the worker processes, failures that only
follow another rank's failure (a lost gloo/NCCL peer, the SIGTERM torchrun sends to the survivors, an
error every rank raises together such as divergence) stay silent: the rank that failed first reports.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

# Messages of a collective that lost its peer process (gloo, NCCL, the TCP store), across torch versions.
PEER_LOST = ("connection closed by peer", "connection reset by peer", "broken pipe", "socket timeout",
             "nccl communicator was aborted", "failed to recv", "connection refused")
ELASTIC_LOGGERS = ("torch.distributed.elastic", "torch.distributed.run", "torch.distributed.launcher")


def in_worker() -> bool:
    """True inside one process of a multi-process run (torchrun sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _peer_lost(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:  # the toolkit wraps the collective's error: walk the causes
        text = str(exc).lower()
        if type(exc).__name__ == "DistBackendError" or any(p in text for p in PEER_LOST):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def secondary_failure(exc: BaseException) -> bool:
    """Whether a worker's error only echoes another rank's (then it prints nothing; the first one reports)."""
    if not in_worker():
        return False
    if getattr(exc, "collective", False):  # raised by every rank at the same step: rank 0 reports it
        return int(os.environ.get("RANK", "0")) > 0
    return _peer_lost(exc)


@contextlib.contextmanager
def _quiet_agent() -> Iterator[None]:
    """torchrun's agent logs each worker's exit and its rendezvous at WARNING/INFO; the toolkit reports instead."""
    loggers = [logging.getLogger(name) for name in ELASTIC_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def killed_message(rank: int, signum: int) -> str:
    """'rank 1 was killed by signal 9 (SIGKILL); the other ranks stopped'."""
    import signal

    try:
        name = f" ({signal.Signals(signum).name})"
    except ValueError:
        name = ""
    return f"rank {rank} was killed by signal {signum}{name}; the other ranks stopped"


def _say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"error: {message}", style="red", highlight=False, markup=False, soft_wrap=True)


def launch(nproc: int, args: list[str]) -> int:
    """Run `python -m toolkit <args>` on `nproc` local processes; returns the first failed rank's exit code.

    Raises KeyboardInterrupt when the launcher itself is interrupted (Ctrl-C, SIGTERM).
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    options = parse_args(["--standalone", f"--nproc_per_node={nproc}", "-m", "toolkit", *args])
    try:
        with _quiet_agent():
            run(options)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        code = int(failure.exitcode)
        if code < 0:  # killed by a signal (out of memory, kill -9): the rank itself could say nothing
            _say(killed_message(rank, -code))
            return 128 - code  # the shell's convention for a process killed by a signal
        return code if code > 0 else 1
    except SignalException:
        raise KeyboardInterrupt("terminated") from None
    return 0
