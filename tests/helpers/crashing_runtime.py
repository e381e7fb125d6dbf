"""A runtime that dies natively in its worker process, as OpenVINO's compile_model did on an INT8 file (issue 33).

`CrashingRuntime` is ONNX Runtime on the CPU, isolated like the built-in file runtimes, except that on a model file
whose name contains `crash_on` its session ends the worker process at the first run (where OpenVINO compiles):
with SIGSEGV (`how="segv"`), abort (`how="abort"`), or it hangs there (`how="hang"`, for interrupt tests).
It must be importable by name in the worker (tests/helpers is on the parent's sys.path, which the worker gets).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from toolkit.artifacts import ONNX, ONNX_INT8
from toolkit.runtimes import RUNTIMES
from toolkit.runtimes.onnx_rt import OrtRuntime

NAME = "crashing-cpu"


class CrashingSession:
    """Dies at its first run: the worker process ends with a native signal, or never answers."""

    def __init__(self, session: Any, how: str):
        self.session, self.how = session, how
        self.threads, self.precision = session.threads, session.precision

    def predict(self, images):
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file where the tests run (this is the worker)
        if self.how == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif self.how == "abort":
            os.abort()
        time.sleep(3600)  # "hang": a native call that does not return

    def sync(self) -> None:
        """Nothing queued."""


@dataclass
class CrashingRuntime(OrtRuntime):
    """onnxruntime-cpu whose sessions of files named like `options["crash_on"]` crash in the worker."""

    def open_here(self, model, threads=None):
        session = super().open_here(model, threads)
        if self.options["crash_on"] in model.path.name:
            return CrashingSession(session, self.options["how"])
        return session


def make(name: str = NAME, crash_on: str = "int8", how: str = "segv") -> CrashingRuntime:
    """A CrashingRuntime (not registered)."""
    return CrashingRuntime(name, "cpu", frozenset({ONNX, ONNX_INT8}), "crashes natively on some files (tests)",
                           {"provider": "CPUExecutionProvider", "crash_on": crash_on, "how": how})


@contextlib.contextmanager
def crashing_runtime(crash_on: str = "int8", how: str = "segv") -> Iterator[CrashingRuntime]:
    """Register a CrashingRuntime as 'crashing-cpu' for the duration of a with-block."""
    runtime = make(NAME, crash_on, how)
    RUNTIMES.add(runtime.name, runtime)
    try:
        yield runtime
    finally:
        RUNTIMES.remove(runtime.name)
