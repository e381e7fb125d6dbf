"""Model files run in a worker process per runtime, so that a native crash fails one measurement, not the run.

ONNX Runtime and OpenVINO compile and run a model file in native code; a bug there (OpenVINO's `compile_model`
on some INT8 graphs) ends the process with SIGSEGV or abort, which no `except` can catch. A runtime whose
class sets `isolated = True` therefore loads model files in a long-lived worker process (`toolkit.runtimes
.worker`, started with multiprocessing's "spawn": a fresh interpreter that copies none of this process's
threads, locks or OpenMP state). Its sessions are `IsolatedSession`s: `predict` sends the images there, and
`time_runs` times the runs there, with perf_counter around the runtime call, so the pipe is never timed.

When the worker dies, the session whose request was running raises `RuntimeCrashed` ("openvino-cpu crashed
with SIGSEGV while compiling/timing model.int8.onnx") now and on every later use; the caller records it as
that model's failure and goes on. The runtime's other sessions load their model again in a new worker on their
next use. An interrupt (Ctrl-C, SIGTERM) while a worker works kills it and is raised on; the worker ignores
SIGINT itself (Ctrl-C reaches the whole process group), and ends when its parent is gone.

The torch runtimes stay in this process: their model is a live module, not a file. A worker is one process
per runtime name, kept for the life of this process and killed when it exits.
"""

from __future__ import annotations

import itertools
import os
import pickle
import signal
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.artifacts import ModelArtifact
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    import numpy as np

WAIT_S = 0.25  # a wait for the worker wakes this often, so that a signal's handler runs in the main thread
JOIN_S = 5.0


class RuntimeCrashed(ToolkitError):
    """A runtime's worker process died (a native crash: SIGSEGV, abort, the OOM killer) during a request."""


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the system may have run out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"crashed with {name}{hint}"
    return f"exited with code {exitcode}"


# The worker starts from a bare interpreter: SIGINT ignored from its first line, then this process's sys.path.
# Not multiprocessing's "spawn": that runs the parent's main script again in the child, and a user's script
# without an `if __name__ == "__main__"` guard would start its whole job (or fail) there.
BOOT = ("import json, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "sys.path[:] = json.loads(sys.argv[1]); "
        "from toolkit.runtimes.worker import main; main(int(sys.argv[2]), int(sys.argv[3]))")


def _end(process: Any, conn: Any) -> None:
    """Kill a worker process (it may be inside a native call that never returns) and reap it."""
    if process.poll() is None:
        process.kill()
    try:
        process.wait(JOIN_S)
    except Exception:  # noqa: BLE001 - a process that outlives SIGKILL's wait is the kernel's to reap
        pass
    conn.close()


class Worker:
    """One worker process of one runtime and the pipe to it; requests go one at a time (a lock)."""

    def __init__(self, name: str):
        import json
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        self.name, self.dead = name, False
        path = json.dumps([str(p) for p in sys.path])
        self.process = subprocess.Popen([sys.executable, "-c", BOOT, path, str(theirs.fileno()), str(os.getpid())],
                                        pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()  # the child holds the only other end now: its death reads as end-of-file here
        self.conn = Connection(ours.detach())
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.closed: list[int] = []  # sessions collected since the last request: closed with the next one
        self._finalizer = weakref.finalize(self, _end, self.process, self.conn)  # at the latest when this process exits

    def request(self, op: str, sid: int, payload: Any, doing: str) -> tuple[Any, dict[str, Any] | None]:
        """Send one request and wait for (value, session facts); the worker's own error is raised here.

        Raises RuntimeCrashed when the worker dies meanwhile (`doing` names the work in the message); any
        BaseException while waiting (KeyboardInterrupt) kills the worker first, then propagates."""
        from multiprocessing.connection import wait

        with self.lock:
            if self.dead:
                raise RuntimeCrashed(f"{self.name}'s worker process is gone")
            closed, self.closed = self.closed, []
            try:
                self.conn.send((op, sid, payload, closed))
                while not wait([self.conn], WAIT_S):
                    if self.process.poll() is not None:
                        raise EOFError
                reply = self.conn.recv()
            except (EOFError, OSError):  # the pipe closed: the process died
                raise self._crashed(doing) from None
            except BaseException:  # an interrupt or an error of ours mid-request: never leave the child working
                self.stop()
                raise
        status, value, extra = reply
        if status == "ok":
            return value, extra
        raise pickle.loads(value) if value is not None else RuntimeError(extra)

    def _crashed(self, doing: str) -> RuntimeCrashed:
        self.dead = True
        try:
            code = self.process.wait(JOIN_S)
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: alive, but its pipe is closed
            code = None
        self.stop()
        return RuntimeCrashed(f"{self.name} {_how_it_ended(code)} while {doing}")

    def stop(self) -> None:
        """Kill the process and wait for it (idempotent)."""
        self.dead = True
        self._finalizer()


_workers: dict[str, Worker] = {}
_workers_lock = threading.Lock()


def worker_for(name: str) -> Worker:
    """The live worker of runtime `name`, started (or started again after a crash) when there is none."""
    with _workers_lock:
        worker = _workers.get(name)
        if worker is None or worker.dead or worker.process.poll() is not None:
            worker = _workers[name] = Worker(name)
        return worker


def worker_pids() -> dict[str, int]:
    """Process id of each runtime's live worker (for tests and diagnostics)."""
    with _workers_lock:
        return {name: w.process.pid for name, w in _workers.items() if not w.dead and w.process.poll() is None}


def stop_workers() -> None:
    """Stop every worker (they are started again on the next load)."""
    with _workers_lock:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop()


class IsolatedSession:
    """A model file loaded in its runtime's worker process; same interface as an in-process session, plus
    `time_runs(images, n)`: n runs timed in the worker (ms). Raises RuntimeCrashed once the worker died while
    working for this session; loads the model again in a new worker when another session's crash ended it."""

    def __init__(self, runtime: Any, model: ModelArtifact, threads: int | None):
        self.runtime, self.model, self.requested_threads = runtime, model, threads
        self.threads, self.precision, self.gpu_timing = threads, "fp32", False
        self.crash: RuntimeCrashed | None = None
        self._images: Any = None  # the array the worker holds for timing (sent once)
        self._open()

    def _open(self) -> None:
        worker = worker_for(self.runtime.name)
        sid = next(worker.ids)
        self._worker, self._sid, self._images = worker, sid, None
        # an absolute path: the worker lives on across calls, in the directory it started in, while this
        # process may have changed its working directory since
        absolute = ModelArtifact(self.model.format, Path(self.model.path).absolute(), dict(self.model.meta))
        self._run("open", (self.runtime, absolute, self.requested_threads), "loading")
        weakref.finalize(self, worker.closed.append, sid)

    def _ready(self) -> None:
        if self.crash is not None:
            raise RuntimeCrashed(str(self.crash))
        if self._worker.dead:  # another model crashed this runtime's worker: load this one again
            self._open()

    def _run(self, op: str, payload: Any, doing: str) -> Any:
        try:
            value, facts = self._worker.request(op, self._sid, payload, f"{doing} {self.model.path.name}")
        except RuntimeCrashed as exc:
            self.crash = exc
            raise
        if facts:
            self.threads, self.precision, self.gpu_timing = facts["threads"], facts["precision"], facts["gpu_timing"]
        return value

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits for a float32 NCHW batch, computed in the worker."""
        self._ready()
        return self._run("predict", images, "compiling/running")

    def time_runs(self, images: np.ndarray, n: int) -> list[float]:
        """Wall time (ms) of each of n predict+sync runs, taken in the worker around the runtime call."""
        return self._timed("time", images, n)

    def time_ms(self, images: np.ndarray, n: int) -> list[float]:
        """A GPU session's device time (ms) of each of n runs, taken in the worker."""
        return self._timed("time_ms", images, n)

    def _timed(self, op: str, images: np.ndarray, n: int) -> list[float]:
        self._ready()
        times = self._run(op, (None if images is self._images else images, n), "compiling/timing")
        self._images = images  # kept referenced, so that `is` cannot match a new array at the same address
        return times

    def sync(self) -> None:
        """Every request returns after the work is done."""


def open_isolated(runtime: Any, model: ModelArtifact, threads: int | None) -> IsolatedSession:
    """Load `model` on `runtime` (a toolkit.runtimes.base.Runtime: typed Any, since base imports this module) in
    that runtime's worker process (started on first use).

    Raises what the runtime's loader raises (re-raised from the worker), or RuntimeCrashed."""
    return IsolatedSession(runtime, model, threads)
