"""The child side of an isolated runtime: a process that loads, runs and times model files for its parent.

`serve` answers requests on a pipe until the parent closes it. A native crash (SIGSEGV, abort) inside a
runtime ends only this process; the parent (`toolkit.runtimes.isolated`) sees the pipe close and the exit
signal, records the failure and starts a new worker. Timing happens here, around the runtime call itself,
with the same perf_counter loop as an in-process measurement: the pipe's cost is never in a timed run.

This module imports only the runtime package (the runtime's own library loads when a model is opened).
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from typing import Any

PARENT_CHECK_S = 0.5


def time_runs(session: Any, images: Any, n: int) -> list[float]:
    """Wall time in ms of each of `n` runs of `session.predict(images)` then `session.sync()` (perf_counter).

    One untimed run goes first: while the parent's request was on its way the runtime's threads went to sleep
    (ONNX Runtime's pool stops spinning), and in-process timing never pauses between runs; without it a run asked
    for alone measured about 30% slower on a small model."""
    session.predict(images)
    session.sync()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        session.predict(images)
        session.sync()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _watch_parent(parent_pid: int) -> None:
    """End this process when its parent is gone: a parent killed outright (SIGKILL, a watchdog's os._exit)
    cannot close the pipe while this process is inside a long native call."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _error(exc: BaseException) -> tuple[str, Any, str]:
    """("error", the exception when it survives pickling, else None, 'Type: message')."""
    text = f"{type(exc).__name__}: {exc}"
    try:
        blob = pickle.dumps(exc)
        pickle.loads(blob)  # an exception class with its own __init__ may pickle but not load
    except Exception:  # noqa: BLE001 - the text alone goes back
        blob = None
    return "error", blob, text


class _Sessions:
    """The open sessions by id, and the images each was last timed on (sent once, reused after)."""

    def __init__(self) -> None:
        self.open: dict[int, Any] = {}
        self.images: dict[int, Any] = {}

    def handle(self, op: str, sid: int, payload: Any) -> Any:
        if op == "open":
            runtime, model, threads = payload
            session = runtime.open_here(model, threads)
            self.open[sid] = session
            return self.facts(sid)
        session = self.open[sid]
        if op == "predict":
            return session.predict(payload)
        images, n = payload
        if images is not None:
            self.images[sid] = images
        if op == "time_ms":  # a GPU session's own device timer
            return session.time_ms(self.images[sid], n)
        return time_runs(session, self.images[sid], n)

    def facts(self, sid: int) -> dict[str, Any]:
        """What the parent's proxy mirrors: threads settle on first use (OpenVINO compiles lazily)."""
        session = self.open[sid]
        return {"threads": session.threads, "precision": session.precision,
                "gpu_timing": bool(getattr(session, "gpu_timing", False))}

    def close(self, sids: list[int]) -> None:
        for sid in sids:
            self.open.pop(sid, None)
            self.images.pop(sid, None)


def main(fd: int, parent_pid: int) -> None:
    """The worker process: serve the connection on file descriptor `fd` (isolated.BOOT calls this)."""
    from multiprocessing.connection import Connection

    serve(Connection(fd), parent_pid)


def serve(conn: Any, parent_pid: int) -> None:
    """Answer (op, session id, payload, ids to close) requests with ("ok", value, facts) or an error, until EOF.

    SIGINT is ignored: Ctrl-C reaches the whole process group, and the parent decides (it kills this process
    when it stops). Errors a runtime raises go back to the parent; a native crash ends the process.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # already so since the interpreter's first line (BOOT)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    sessions = _Sessions()
    while True:
        try:
            op, sid, payload, closed = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or is gone
            return
        except Exception as exc:  # noqa: BLE001 - read whole but not unpickled: e.g. a runtime class not importable
            conn.send(("error", None, f"the runtime's worker process could not read the request: "
                                      f"{type(exc).__name__}: {exc} (an isolated runtime's class must be importable "
                                      f"by module name)"))
            continue
        sessions.close(closed)
        try:
            value = sessions.handle(op, sid, payload)
            reply: tuple = ("ok", value, sessions.facts(sid) if sid in sessions.open else None)
        except Exception as exc:  # noqa: BLE001 - the parent re-raises it as the caller's error
            reply = _error(exc)
        conn.send(reply)
