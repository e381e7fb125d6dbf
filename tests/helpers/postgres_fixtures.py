"""A throwaway PostgreSQL server for the sweep tests: one cluster per test session (`initdb` on a free local
port, Debian's `postgresql` binaries), a fresh database per test. Skipped, with the reason, where the server
binaries or the driver are absent. Test modules import these fixtures: a conftest.py of their own would shadow
tests/conftest.py, which other tests import by name (`from conftest import tiny_recipe`)."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess

import pytest

_databases = itertools.count()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_binary(name: str) -> str | None:
    """On PATH, or where Debian's package puts it (/usr/lib/postgresql/VERSION/bin, not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """postgresql://sweeper@127.0.0.1:PORT on a cluster in a session tmp folder, stopped afterwards."""
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not here (Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg2", reason="the postgres extra (psycopg2-binary) is not installed")
    root = tmp_path_factory.mktemp("postgres")
    data = root / "pg"
    data.mkdir()
    as_user: list[str] = []
    if os.getuid() == 0:  # the server refuses to run as root: run it as the postgres account, where there is one
        if not shutil.which("runuser") or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a postgres account to start the server as")
        for folder in (root, *root.parents):  # the server must reach its folder
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
        yield f"postgresql://sweeper@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's server: postgresql://sweeper@127.0.0.1:PORT/sweep_N."""
    import psycopg2

    name = f"sweep_{next(_databases)}"
    connection = psycopg2.connect(f"{postgres_server}/postgres")
    connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    return f"{postgres_server}/{name}"
