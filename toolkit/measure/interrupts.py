"""Whether this process was asked to stop (SIGINT, SIGTERM): a flag that loops and error handlers can read.

The CLI's signal handler raises KeyboardInterrupt once, at whatever bytecode runs at that moment. Native code
calling back into Python (numpy, torch, ONNX Runtime) may wrap that exception in its own (a RuntimeError whose
__context__ is the interrupt), and a __del__ or weakref callback only prints it and goes on. The flag set here
survives both: a loop that calls `check()` between batches stops at the next batch, and an `except Exception`
that records one runtime's failure re-raises instead of recording the interrupt as that runtime's fault.
It lives on the measure floor because the lowest loops that need it (accuracy, latency) are there.
"""

from __future__ import annotations

_requested: list[int] = []  # the signal number once a stop was asked for; a list so that tests can clear it


def request(signum: int) -> None:
    """Record that a stop was asked for (called by the CLI's signal handler)."""
    if not _requested:
        _requested.append(int(signum))


def clear() -> None:
    """Forget a stop request (the CLI clears it when a command starts and ends; tests run several in a process)."""
    _requested.clear()


def requested() -> int | None:
    """The signal number that asked this process to stop, else None."""
    return _requested[0] if _requested else None


def check() -> None:
    """Raise KeyboardInterrupt if a stop was asked for: loops call it between batches, since the interrupt the
    signal handler raised may have been swallowed by native code on its way up."""
    if _requested:
        raise KeyboardInterrupt("interrupted")


def caused_by_interrupt(exc: BaseException) -> bool:
    """True when `exc` is, wraps or follows a KeyboardInterrupt (its __cause__/__context__ chain), or when a stop
    was asked for: native code re-raises an interrupt as its own error type, sometimes without the chain."""
    if _requested:
        return True
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:  # a chain can loop back on itself
            continue
        if isinstance(node, KeyboardInterrupt):
            return True
        seen.add(id(node))
        todo += [node.__cause__, node.__context__]
    return False


def reraise_if_interrupted(exc: BaseException) -> None:
    """Raise KeyboardInterrupt (chained to `exc`) when `exc` stands for an interrupt; else return.

    For `except Exception` blocks that record a failure and go on: an interrupt must stop the command instead.
    Raises KeyboardInterrupt."""
    if caused_by_interrupt(exc):
        raise KeyboardInterrupt("interrupted") from exc
