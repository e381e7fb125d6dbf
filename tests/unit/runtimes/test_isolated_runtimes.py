"""A runtime that crashes natively (SIGSEGV, abort) in its worker process fails that model's measurement, names
the signal, and leaves this process and the runtime's other models running; an interrupt kills the worker."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import pytest
import torch
from crashing_runtime import NAME, crashing_runtime
from torch import nn

from toolkit.artifacts import ONNX, ONNX_INT8, ModelArtifact
from toolkit.config import MeasureSpec
from toolkit.measure.interleave import Candidate, latency_records
from toolkit.runtimes.isolated import RuntimeCrashed, worker_pids

FAST = MeasureSpec(runtimes=[NAME], batch_sizes=[1], warmup_s=0.0, min_iters=3, min_time_s=0.0)


class _Data:
    """example_input is all latency needs."""

    def example_input(self, batch_size: int) -> torch.Tensor:
        return torch.rand(batch_size, 3, 8, 8)


class _Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(fp32, int8) ONNX files of one tiny network; the crashing runtime dies on the one named *int8*."""
    from toolkit.convert.onnx import export_onnx

    folder = tmp_path_factory.mktemp("isolated")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    fp32 = folder / "model.onnx"
    export_onnx(net, fp32, torch.rand(1, 3, 8, 8))
    int8 = folder / "model.int8.onnx"
    shutil.copy(fp32, int8)
    return fp32, int8


@pytest.mark.parametrize(("how", "signame"), [("segv", "SIGSEGV"), ("abort", "SIGABRT")])
def test_a_native_crash_fails_that_models_record_naming_the_signal_and_the_others_are_timed(files, how, signame):
    fp32, int8 = files
    with crashing_runtime(how=how):
        candidates = [Candidate("fp32", ModelArtifact(ONNX, fp32)), Candidate("int8", ModelArtifact(ONNX_INT8, int8))]
        records = latency_records(candidates, _Data(), FAST)
    (kept,), (crashed,) = records["fp32"], records["int8"]
    assert crashed["status"] == "failed"
    assert crashed["reason"] == f"{NAME} crashed with {signame} while compiling/timing model.int8.onnx"
    # fp32 shared the worker that died: it was loaded again in a new one and timed
    assert kept["status"] == "ok" and kept["p50_ms"] > 0 and kept["iterations"] >= 3


def test_the_int8_speed_check_records_a_crash_and_the_stage_goes_on(files):
    from toolkit.quantize.speed_check import compare_int8_fp32

    fp32, int8 = files
    log = _Log()
    with crashing_runtime():
        check = compare_int8_fp32(fp32, int8, _Data(), FAST, log)
    (record,) = check["records"]
    assert record == {"runtime": NAME, "batch_size": 1, "status": "failed",
                      "reason": f"{NAME} crashed with SIGSEGV while compiling/timing model.int8.onnx"}
    assert check["slower_on"] == [] and "crashed with SIGSEGV" in log.warnings[0]


def test_a_crashed_session_stays_failed_and_a_new_load_gets_a_new_worker(files):
    fp32, int8 = files
    with crashing_runtime() as runtime:
        session = runtime.load(ModelArtifact(ONNX_INT8, int8))
        first = worker_pids()[NAME]
        images = _Data().example_input(1).numpy()
        with pytest.raises(RuntimeCrashed, match="crashed with SIGSEGV while compiling/running model.int8.onnx"):
            session.predict(images)
        with pytest.raises(RuntimeCrashed, match="SIGSEGV"):  # not loaded again: it would only crash again
            session.time_runs(images, 1)
        again = runtime.load(ModelArtifact(ONNX, fp32))
        assert again.predict(images).shape == (1, 2) and worker_pids()[NAME] != first


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for the test: an earlier test in the same process may have left another one
    installed (in a full run the SIGINT was then ignored and the hanging worker waited for ever)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_interrupt_while_the_worker_works_kills_it_and_propagates(files, python_ctrl_c):
    _, int8 = files
    with crashing_runtime(how="hang") as runtime:
        session = runtime.load(ModelArtifact(ONNX_INT8, int8))
        pid = worker_pids()[NAME]
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))  # Ctrl-C while the worker hangs
        started = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            session.predict(_Data().example_input(1).numpy())
        timer.join()
    assert time.monotonic() - started < 5
    assert NAME not in worker_pids()
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)
