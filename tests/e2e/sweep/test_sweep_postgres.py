"""The PostgreSQL storage on a throwaway cluster (initdb on a free local port): the study is created there, and
`compress sweep --storage postgresql://...` checks it like the journal's. Nothing is trained; skipped where the
server binaries or the driver are absent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest
from click.testing import CliRunner
from test_sweep_inputs import GOOD, sweep_recipe

from toolkit.cli.main import main


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres_url(tmp_path):
    """postgresql://sweeper@127.0.0.1:PORT/postgres on a cluster in tmp_path, stopped afterwards."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not on PATH")
    pytest.importorskip("psycopg2", reason="the postgres extra (psycopg2-binary) is not installed")
    data = tmp_path / "pg"
    data.mkdir()
    as_user: list[str] = []
    if os.getuid() == 0:  # the server refuses to run as root: run it as the postgres account, where there is one
        if not shutil.which("runuser") or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a postgres account to start the server as")
        for folder in (tmp_path, *tmp_path.parents):  # the server must reach its folder
            if folder == folder.parent:
                break
            os.chmod(folder, os.stat(folder).st_mode | 0o011)
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "sweeper"], check=True,
                   capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(data / "server.log"), "-w", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://sweeper@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)


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
