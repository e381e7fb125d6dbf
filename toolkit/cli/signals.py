"""How every `compress` command ends: toolkit errors as one line and their exit code; Ctrl-C and SIGTERM as one
"interrupted" line and exit 130, at any moment, without a traceback.

The first SIGINT or SIGTERM sets a flag (toolkit.measure.interrupts) and raises KeyboardInterrupt once. Native
code may wrap that interrupt in its own error (a RuntimeError raised inside a numpy or torch callback) or swallow
it (a __del__ only prints it), so the top level treats any exception as the interrupt once the flag is set or
the interrupt is in its __cause__/__context__ chain, and loops check the flag between batches. The handler then
gives both signals back to the system's default action: a second signal ends even a native call that never
returns to Python. A watchdog ends the process with 130 if it still runs GRACE_S seconds after the first signal
(an interrupt swallowed where no loop checks, or a thread that interpreter shutdown waits for).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from toolkit.errors import ToolkitError
from toolkit.measure import interrupts
from toolkit.run.launch import in_worker, secondary_failure

GRACE_S = 10.0
# What a stopped command says: `run`, `sweep` and `analyze` keep what they finished and resume from it; the
# others have nothing to resume, so a plain line (inspect said "the run folder is consistent", having none).
INTERRUPTED_LINE = "interrupted"
RESUMABLE_LINE = "interrupted: the run folder is consistent; run the same command again to resume"
SIGNALS = (signal.SIGINT, signal.SIGTERM)
F = TypeVar("F", bound=Callable[..., Any])


class _Watchdog:
    """Ends the process with exit 130 once GRACE_S seconds have passed since the first signal, unless the
    command has returned to an in-process caller (a test's CliRunner) by then. It imports nothing when it fires
    (in_worker is imported at the top): the main thread may be stuck holding the import lock."""

    def __init__(self, line: str = INTERRUPTED_LINE) -> None:
        self.line = line
        self.returned = threading.Event()
        self.said = False  # the command already printed the interrupted line
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._watch, name="compress-interrupt-watchdog", daemon=True)
            self.thread.start()

    def _watch(self) -> None:
        time.sleep(GRACE_S)
        # The command returned and the main thread runs on (in-process use): not ours to end. A main thread
        # that is no longer alive is an interpreter shutdown waiting on a thread: end it.
        if self.returned.is_set() and threading.main_thread().is_alive():
            return
        if not self.said:
            _say_interrupted_raw(self.line)
        os._exit(130)


_watchdog: list[_Watchdog] = []


def _say_interrupted_raw(line: str) -> None:
    """The interrupted line without rich or Python's buffered streams (another thread may hold their locks)."""
    if not in_worker():
        with contextlib.suppress(OSError):
            os.write(2, (line + "\n").encode())


def _on_signal(signum: int, frame: Any) -> None:
    first = interrupts.requested() is None
    interrupts.request(signum)
    for sig in SIGNALS:  # a second signal ends the process even inside a native call that never returns
        signal.signal(sig, signal.SIG_DFL)
    if _watchdog:
        _watchdog[-1].start()
    if first:
        raise KeyboardInterrupt(signal.Signals(signum).name)


def _unraisable_hook(previous: Callable[[Any], None]) -> Callable[[Any], None]:
    """An interrupt raised inside a __del__ or weakref callback cannot propagate: Python would print it with a
    traceback and go on. The flag is already set, so the next check stops the command; print nothing here."""

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) or interrupts.requested() is not None:
            return
        previous(unraisable)

    return hook


@contextlib.contextmanager
def handling_signals(line: str = INTERRUPTED_LINE) -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt (once) while the block runs; the previous handlers after.

    SIGINT is handled even where the process started with it ignored (a batch runner's `cmd &`, a parent that
    set SIG_IGN): Python then installs no handler of its own, and Ctrl-C or a runner's SIGINT did nothing."""
    if threading.current_thread() is not threading.main_thread():  # signal.signal works in the main thread only
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    previous_hook = sys.unraisablehook
    interrupts.clear()
    _watchdog.append(_Watchdog(line))
    for sig in SIGNALS:
        signal.signal(sig, _on_signal)
    sys.unraisablehook = _unraisable_hook(previous_hook)
    try:
        yield
    finally:
        if interrupts.requested() is None:  # after a signal, a second one keeps ending the process at once
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        sys.unraisablehook = previous_hook
        _watchdog.pop().returned.set()
        interrupts.clear()


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


def _interrupted() -> None:
    """One line (none in a worker of a multi-process run: the launcher reports) and exit 130."""
    if not in_worker():  # torchrun stopping the other ranks after one failed: the launcher reports
        line = _watchdog[-1].line if _watchdog else INTERRUPTED_LINE
        _stderr().print(line, highlight=False, markup=False, soft_wrap=True)
    if _watchdog:
        _watchdog[-1].said = True
    sys.exit(130)


def guarded(fn: F | None = None, *, resumable: bool = False) -> Any:
    """Run a command: toolkit errors become a short message and their exit code; Ctrl-C, SIGTERM and any error
    that an interrupt caused (wrapped by native code, or raised after the signal) become exit 130 and one line,
    which for a `resumable` command (run, sweep, analyze) says that running it again resumes.

    Use as `@guarded` or `@guarded(resumable=True)`."""

    def decorate(command: F) -> F:
        line = RESUMABLE_LINE if resumable else INTERRUPTED_LINE

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with handling_signals(line):
                try:
                    result = command(*args, **kwargs)
                    if interrupts.requested() is not None:  # the interrupt was swallowed on the way: still 130
                        _interrupted()
                    return result
                except KeyboardInterrupt:
                    _interrupted()
                except ToolkitError as exc:
                    if interrupts.caused_by_interrupt(exc):
                        _interrupted()
                    if not secondary_failure(exc):  # in a multi-process run, only the rank that failed first speaks
                        _stderr().print(f"error: {exc}", style="red", highlight=False, markup=False, soft_wrap=True)
                    sys.exit(exc.exit_code)
                except Exception as exc:
                    if interrupts.caused_by_interrupt(exc):
                        _interrupted()
                    raise

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate
