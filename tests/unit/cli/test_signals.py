"""SIGINT/SIGTERM end every command with one "interrupted" line and exit 130, whatever the interrupt met on its way
up: native code that wraps it in its own error or swallows it (numpy's import once turned it into "ImportError:
cannot load module more than once per process"), a __del__ that can only print it, a parent that started the
command with SIGINT ignored (a batch runner, `cmd &`).

Each case is a real `compress` process with a plugin (`--plugin sigplug`) that plants the situation at the first
import the command makes, where it signals its own process; no run folder is needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PLUGIN = '''
import os, signal, sys, time

MODE, TARGET = os.environ["SIGPLUG_MODE"], os.environ["SIGPLUG_TARGET"]
try:  # the watchdog's grace, short for the test (the module does not exist before the fix)
    import toolkit.cli.signals as _signals
    _signals.GRACE_S = 2.0
except ImportError:
    pass


def signal_self(sig=signal.SIGTERM, seconds=20.0):
    os.kill(os.getpid(), sig)
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # the handler runs between these bytecodes, like inside a native callback
        pass


class Bomb:
    def __del__(self):
        signal_self()  # the interrupt is raised in __del__: Python can only print it


class Finder:
    fired = False

    def find_spec(self, name, path=None, target=None):
        if name != TARGET or Finder.fired:
            return None
        Finder.fired = True
        if MODE == "plain":
            signal_self()
        elif MODE == "ignored-sigint":
            signal_self(signal.SIGINT)
        elif MODE == "wrapped":  # the interrupt swallowed, another error raised without a chain (numpy's import)
            try:
                signal_self()
            except KeyboardInterrupt:
                pass
            raise ImportError("cannot load module more than once per process")
        elif MODE == "chained":
            try:
                signal_self()
            except KeyboardInterrupt:
                raise RuntimeError("a numpy callback failed")
        elif MODE == "toolkit-wrapped":
            from toolkit.errors import ToolkitError
            try:
                signal_self()
            except KeyboardInterrupt as exc:
                raise ToolkitError(f"stage failed ({type(exc).__name__})") from exc
        elif MODE == "swallowed":  # nothing checks afterwards: a long loop that never returns to the toolkit
            try:
                signal_self()
            except KeyboardInterrupt:
                pass
            end = time.monotonic() + 60
            while time.monotonic() < end:
                pass
        elif MODE == "unraisable":
            Bomb()
        return None


sys.meta_path.insert(0, Finder())
'''

# `compress ARGS` started as a batch runner (or `cmd &`) starts it: SIGINT ignored, kept across exec
IGNORING_SIGINT = ["-c", ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                         "os.execv(sys.executable, [sys.executable, '-m', 'toolkit', *sys.argv[1:]])")]
# each command's first import of its own, where the plugin strikes
COMMANDS = {"analyze": (["analyze", "recipe.yaml"], "toolkit.analyze.run"),
            "run": (["run", "recipe.yaml"], "toolkit.run.pipeline"),
            "bench": (["bench", "runs/x"], "toolkit.bench"),
            "report": (["report", "runs/x"], "toolkit.report"),
            "sweep": (["sweep", "recipe.yaml"], "toolkit.sweep.command")}


def _compress(tmp_path: Path, command: str, mode: str, ignore_sigint: bool = False,
              timeout: float = 40) -> tuple[subprocess.CompletedProcess, float]:
    (tmp_path / "sigplug.py").write_text(PLUGIN)
    args, target = COMMANDS[command]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]), SIGPLUG_MODE=mode,
               SIGPLUG_TARGET=target)
    launcher = IGNORING_SIGINT if ignore_sigint else ["-m", "toolkit"]
    started = time.monotonic()
    done = subprocess.run([sys.executable, *launcher, "--plugin", "sigplug", *args], cwd=tmp_path, check=False,
                          capture_output=True, text=True, timeout=timeout, env=env)
    return done, time.monotonic() - started


def _assert_interrupted(done: subprocess.CompletedProcess, command: str = "analyze") -> None:
    text = done.stdout + done.stderr
    assert done.returncode == 130, text
    assert "Traceback" not in text and "Exception ignored" not in text, text
    assert "interrupted" in done.stderr and "error:" not in text, text
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    # run, analyze and sweep resume from what they finished; the others say no more than that they stopped
    resumable = "interrupted: the run folder is consistent; run the same command again to resume"
    assert lines[0].strip() == (resumable if command in ("run", "analyze", "sweep") else "interrupted"), lines


@pytest.mark.parametrize("mode", ["plain", "wrapped", "chained", "toolkit-wrapped", "unraisable"])
def test_an_interrupt_however_native_code_hands_it_on_ends_analyze_with_130_and_one_line(tmp_path, mode):
    done, _ = _compress(tmp_path, "analyze", mode)
    _assert_interrupted(done)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_ends_with_130_when_numpy_turns_the_interrupt_into_an_import_error(tmp_path, command):
    done, _ = _compress(tmp_path, command, "wrapped")
    _assert_interrupted(done, command)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_sigint_stops_a_command_that_was_started_with_sigint_ignored(tmp_path, command):
    done, seconds = _compress(tmp_path, command, "ignored-sigint", ignore_sigint=True)
    _assert_interrupted(done, command)
    assert seconds < 15  # not after the plugin's 20 s loop: the signal was acted on at once


def test_an_interrupt_swallowed_where_nothing_checks_still_ends_the_command_within_the_grace(tmp_path):
    done, seconds = _compress(tmp_path, "analyze", "swallowed", ignore_sigint=True, timeout=30)
    text = done.stdout + done.stderr
    assert done.returncode == 130 and "Traceback" not in text, text
    assert seconds < 15 and done.stderr.count("interrupted") == 1, done.stderr


def test_after_the_first_signal_a_second_one_gets_the_systems_default_action_and_a_check_stops_loops():
    from toolkit.cli.signals import guarded
    from toolkit.measure import interrupts

    seen = {}
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    @guarded
    def command() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except KeyboardInterrupt:
            pass  # swallowed, as native code may do
        seen.update({sig: signal.getsignal(sig) for sig in saved})
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()  # what loops call between batches
        seen["flag"] = interrupts.requested()

    try:
        with pytest.raises(SystemExit) as info:
            command()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert info.value.code == 130
    assert seen == {signal.SIGINT: signal.SIG_DFL, signal.SIGTERM: signal.SIG_DFL, "flag": signal.SIGTERM}
    assert interrupts.requested() is None  # cleared for the next command of this process


def test_an_interrupt_is_found_however_deep_in_a_chain_and_only_there():
    from toolkit.measure.interrupts import caused_by_interrupt

    def chained(depth: int) -> BaseException:
        try:
            if depth == 0:
                raise KeyboardInterrupt
            raise chained(depth - 1)
        except (KeyboardInterrupt, ValueError) as inner:
            try:
                raise ValueError(f"level {depth}") from inner
            except ValueError as outer:
                return outer

    looped = RuntimeError("loop")
    looped.__context__ = ValueError("back")
    looped.__context__.__context__ = looped
    assert caused_by_interrupt(chained(0)) and caused_by_interrupt(chained(5))
    assert not caused_by_interrupt(ValueError("plain")) and not caused_by_interrupt(looped)
