"""A sweep survives its workers: one killed mid-trial (SIGKILL) has its trial run again by another worker and the
study completes; Ctrl-C stops every worker cleanly and the next run resumes in the same run folders; the journal's
coordinator fails what a dead worker left RUNNING. Real processes, signals and the journal storage."""

from __future__ import annotations

import json
import os
import signal

import pytest
from sweep_faults import finished, running_trial, slow_trials_recipe, start_sweep


def _journal(tmp_path):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    journal = tmp_path / "runs" / "tiny-sweep" / "journal.log"
    return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))


def _wait_for_journal(tmp_path, process):
    import time

    journal = tmp_path / "runs" / "tiny-sweep" / "journal.log"
    for _ in range(600):
        if journal.is_file():
            return _journal(tmp_path)
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("the sweep made no journal")


def _summary(tmp_path) -> dict:
    return json.loads((tmp_path / "runs" / "tiny-sweep" / "summary.json").read_text())


@pytest.mark.slow
def test_a_worker_killed_mid_trial_has_its_trial_run_again_and_the_study_completes(tiny, tmp_path):
    recipe = slow_trials_recipe(tiny, tmp_path)
    process = start_sweep([str(recipe), "--workers", "2"], tmp_path)
    victim = running_trial(_wait_for_journal(tmp_path, process), process, after=1.0)
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)
    code, out, err = finished(process)
    assert code == 0, out + err
    assert "killed by SIGKILL" in out or "queued again" in out, out
    summary = _summary(tmp_path)
    folder = victim.user_attrs["run_dir"]
    attempts = [t for t in summary["trials"] if t["run_dir"] == folder]
    assert [t["state"] for t in attempts][0] == "FAIL" and attempts[0]["interrupted"], attempts
    assert "killed" in attempts[0]["reason"] or "stopped" in attempts[0]["reason"]
    assert attempts[-1]["state"] == "COMPLETE", attempts  # run again in its own folder, to the end
    counted = [t for t in summary["trials"] if not t["interrupted"]]
    assert len(counted) == 4 and all(t["state"] == "COMPLETE" for t in counted), summary["trials"]
    assert victim.number not in summary["pareto"]  # the lost attempt is listed, never in the Pareto set
    assert "Traceback" not in err


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_a_rerun_resumes_in_the_same_run_folders(tiny, tmp_path):
    recipe = slow_trials_recipe(tiny, tmp_path)
    process = start_sweep([str(recipe), "--workers", "2"], tmp_path)
    running = running_trial(_wait_for_journal(tmp_path, process), process, after=1.0)
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group
    code, out, err = finished(process, timeout=120)
    assert code == 130, out + err
    assert "Traceback" not in err, err
    trials = _journal(tmp_path).get_all_trials(0, deepcopy=False)
    stopped = next(t for t in trials if t.number == running.number)
    assert stopped.state.name == "FAIL" and stopped.user_attrs.get("interrupted"), stopped
    assert not [t for t in trials if t.state.name == "RUNNING"]  # no worker left a trial behind

    again = start_sweep([str(recipe), "--workers", "2"], tmp_path)
    code, out, err = finished(again)
    assert code == 0, out + err
    assert "interrupted trial(s) queued again" in out, out
    summary = _summary(tmp_path)
    counted = [t for t in summary["trials"] if not t["interrupted"]]
    assert len(counted) == 4 and all(t["state"] == "COMPLETE" for t in counted), summary["trials"]
    assert sorted({t["run_dir"] for t in summary["trials"]}) == sorted(t["run_dir"] for t in counted)  # same folders
