"""The PostgreSQL storage on a throwaway server (conftest.py): the study is created there, `compress sweep --storage
postgresql://...` checks it like the journal's, and two workers that lose one of theirs to SIGKILL (or to a missed
heartbeat) still complete the study."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest
from click.testing import CliRunner
from postgres_fixtures import postgres_server, postgres_url  # noqa: F401 - fixtures
from sweep_faults import finished, running_trial, slow_trials_recipe, start_sweep
from test_sweep_inputs import GOOD, sweep_recipe

from toolkit.cli.main import main


def test_the_study_lives_in_postgres_and_belongs_to_its_recipe(tiny, tmp_path, postgres_url):
    from toolkit.sweep.spec import load_sweep
    from toolkit.sweep.storage import open_storage, open_study, study_exists

    path = sweep_recipe(tiny, tmp_path, GOOD)
    plan = load_sweep(path)
    storage = open_storage(postgres_url, plan.sweep_dir, workers=2)  # parallel workers are fine on PostgreSQL
    assert not study_exists(storage, "tiny")
    open_study(plan, storage)
    assert study_exists(storage, "tiny")
    status = CliRunner().invoke(main, ["sweep", str(path), "--status", "--storage", postgres_url])
    assert status.exit_code == 0 and "0 of 2 trial(s) done" in status.output, status.output
    sweep_recipe(tiny, tmp_path, GOOD, seed=1)  # another recipe under the same name
    refused = CliRunner().invoke(main, ["sweep", str(path), "--storage", postgres_url])
    assert refused.exit_code == 2 and "belongs to another recipe" in refused.output, refused.output
    assert not (plan.sweep_dir / "journal.log").exists()  # nothing went to the journal


def test_workers_opening_a_fresh_database_at_once_all_get_the_study(tmp_path, postgres_url):
    """Two machines started together on an empty database both create Optuna's tables; without the schema lock one
    failed with 'duplicate key value violates unique constraint "pg_type_typname_nsp_index"' (seen in CI)."""
    import multiprocessing

    from toolkit.sweep.storage import open_storage

    with multiprocessing.get_context("spawn").Pool(6) as pool:  # processes: each its own connection, as machines
        opened = pool.starmap(_open_and_list, [(postgres_url, str(tmp_path))] * 6)
    assert opened == [0] * 6, opened
    assert open_storage(postgres_url, tmp_path).get_all_studies() == []


def _open_and_list(url: str, folder: str) -> int | str:
    from pathlib import Path

    from toolkit.errors import UserInputError
    from toolkit.sweep.storage import open_storage

    try:
        return len(open_storage(url, Path(folder), workers=2).get_all_studies())
    except UserInputError as exc:
        return str(exc)


def _complete_four(tmp_path) -> list[dict]:
    summary = json.loads((tmp_path / "runs" / "tiny-sweep" / "summary.json").read_text())
    counted = [t for t in summary["trials"] if not t["interrupted"]]
    assert len(counted) == 4 and all(t["state"] == "COMPLETE" for t in counted), summary["trials"]
    return summary["trials"]


@pytest.mark.slow
def test_two_postgres_workers_finish_the_study_when_one_is_killed_mid_trial(tiny, tmp_path, postgres_url):
    from toolkit.sweep.storage import open_storage

    recipe = slow_trials_recipe(tiny, tmp_path)
    process = start_sweep([str(recipe), "--workers", "2", "--storage", postgres_url, "--heartbeat", "2"], tmp_path)
    victim = running_trial(open_storage(postgres_url, tmp_path), process, after=1.0)
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)
    code, out, err = finished(process)
    assert code == 0 and "Traceback" not in err, out + err
    trials = _complete_four(tmp_path)
    attempts = [t for t in trials if t["run_dir"] == victim.user_attrs["run_dir"]]
    assert attempts[0]["state"] == "FAIL" and attempts[0]["interrupted"], attempts
    assert attempts[-1]["state"] == "COMPLETE", attempts
    assert not (tmp_path / "runs" / "tiny-sweep" / "journal.log").exists()


@pytest.mark.slow
def test_a_trial_whose_worker_on_another_machine_stopped_beating_is_run_again(tiny, tmp_path, postgres_url):
    """Optuna's heartbeat, not the local process check: the trial names a worker on another host."""
    from toolkit.sweep.engine import make_sampler
    from toolkit.sweep.spec import load_sweep
    from toolkit.sweep.storage import open_storage, open_study

    recipe = slow_trials_recipe(tiny, tmp_path)
    plan = load_sweep(recipe)
    storage = open_storage(postgres_url, plan.sweep_dir, workers=2, heartbeat_s=1)
    study = open_study(plan, storage, make_sampler(plan))
    orphan = study.ask()
    for dimension in plan.dimensions:
        orphan.suggest_categorical(dimension.path, dimension.values)
    for key, value in {"host": f"not-{socket.gethostname()}", "pid": 1, "pid_started": 0.0,
                       "run_dir": str(plan.sweep_dir / "runs" / "trial-0000")}.items():
        orphan.set_user_attr(key, value)
    storage.record_heartbeat(orphan._trial_id)  # it beat once, then its machine went away
    time.sleep(2.5)  # past the grace period (twice the heartbeat)
    process = start_sweep([str(recipe), "--storage", postgres_url, "--heartbeat", "1"], tmp_path)
    code, out, err = finished(process)
    assert code == 0 and "Traceback" not in err, out + err
    trials = _complete_four(tmp_path)
    first = next(t for t in trials if t["number"] == orphan.number)
    assert first["state"] == "FAIL" and first["interrupted"] and "stopped" in first["reason"], first
    assert any(t["retry_of"] == orphan.number and t["state"] == "COMPLETE" for t in trials), trials
