"""Where a sweep's Optuna study lives, and opening it: the journal file in the sweep folder by default, or a
PostgreSQL database that workers on several machines share.

A shared SQLite file is not offered to parallel workers: Optuna's documentation warns that SQLite does not
handle concurrent writers well. It is accepted for one worker (`--workers 1`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolkit.errors import UserInputError
from toolkit.sweep.recovery import requeue_lost
from toolkit.sweep.spec import SweepPlan

JOURNAL = "journal.log"
FINGERPRINT = "recipe_hash"  # study user attr: the recipe and sweep section it was made for
RDB_SCHEMES = ("postgresql", "sqlite")
SCHEMA_LOCK_KEY = 0x636E6E5F7377  # any fixed bigint: the advisory lock every worker takes to create the tables
HEARTBEAT_S = 60  # Optuna's heartbeat interval for database storages; the grace period is twice it


def shown_url(url: str) -> str:
    """The storage URL with any password hidden (for messages and --status)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL: show only its scheme where it may hold a password
        return url.split(":", 1)[0] + ":..." if "@" in url else url


def open_storage(url: str | None, sweep_dir: Path, workers: int = 1, heartbeat_s: int = HEARTBEAT_S) -> Any:
    """An Optuna storage: `url` None is the journal file `<sweep folder>/journal.log`; postgresql:// (several
    machines) and sqlite:/// (one worker) are relational databases, with Optuna's heartbeat: a worker records
    one every `heartbeat_s` seconds while it runs a trial, and a trial without one for twice that is failed
    and queued again by a live worker (`toolkit.sweep.recovery`).

    Raises UserInputError (exit 2) naming the URL when it is malformed, of another kind, SQLite with several
    workers, lacks its driver or cannot be reached."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if url is None:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL)))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise UserInputError(f"--storage {shown_url(url)}: not a database URL ({exc})") from None
    scheme = parsed.get_backend_name()
    if scheme not in RDB_SCHEMES:
        raise UserInputError(f"--storage {shown_url(url)}: use postgresql://USER@HOST/DATABASE, or leave --storage "
                             f"out for the journal file in the sweep folder")
    if scheme == "sqlite" and workers > 1:
        raise UserInputError(f"--storage {shown_url(url)}: a shared SQLite file is not offered for parallel "
                             f"workers (Optuna's docs warn against it); leave --storage out for the journal file, "
                             f"or use postgresql://")
    full = _with_driver(parsed).render_as_string(hide_password=False)
    try:
        with warnings.catch_warnings(), _schema_lock(full, scheme):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat: documented way
            return optuna.storages.RDBStorage(full, engine_kwargs=_connect_timeout(scheme),
                                              heartbeat_interval=heartbeat_s, grace_period=2 * heartbeat_s,
                                              heartbeat_stale_trial_callback=requeue_lost)
    except ImportError as exc:
        raise UserInputError(f"--storage {shown_url(url)}: the database driver is missing ({exc}); "
                             f"pip install -e \".[postgres]\"") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's connection errors have many types; all mean the same
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"--storage {shown_url(url)}: cannot open the database: {first}") from None


@contextlib.contextmanager
def _schema_lock(url: str, scheme: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while Optuna creates its tables: two workers opening a fresh database at
    once otherwise both run CREATE TABLE and one fails ('duplicate key value violates unique constraint
    "pg_type_typname_nsp_index"', Optuna issue #1092, whose maintainers leave it to the caller). Every worker
    takes the same lock, so the second finds the tables made. Nothing to hold for SQLite (one worker)."""
    if scheme != "postgresql":
        yield
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, **_connect_timeout(scheme))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
    finally:
        engine.dispose()


def _with_driver(parsed: Any) -> Any:
    """A bare postgresql:// URL with the driver that is installed: SQLAlchemy 2.1 assumes psycopg 3, while the
    `postgres` extra installs psycopg2 (psycopg2-binary)."""
    import importlib.util

    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _connect_timeout(scheme: str) -> dict[str, Any]:
    # An unreachable host must fail in seconds with a message, not hang on the driver's default timeout
    return {"connect_args": {"connect_timeout": 10}} if scheme == "postgresql" else {}


def study_exists(storage: Any, name: str) -> bool:
    """Whether the storage holds a study of this name."""
    return any(s.study_name == name for s in storage.get_all_studies())


def open_study(plan: SweepPlan, storage: Any, sampler: Any = None, *, create: bool = True) -> Any:
    """The sweep's study (created when `create` and absent), checked to belong to this recipe.

    Raises UserInputError when the study was made for another recipe (or another sweep section: its hash,
    without `trials`, differs), or when `create` is False and there is no study yet."""
    import optuna

    name = plan.recipe.name
    if not create and not study_exists(storage, name):
        raise UserInputError(f"no sweep '{name}' yet in {_where(plan, storage)}: run `compress sweep "
                             f"{plan.source}` first")
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, load_if_exists=True,
                                directions=[o.direction for o in plan.objectives])
    found = study.user_attrs.get(FINGERPRINT)
    if found is None:
        study.set_user_attr(FINGERPRINT, plan.fingerprint)
        study.set_user_attr("objectives", [o.label for o in plan.objectives])
    elif found != plan.fingerprint:
        raise UserInputError(f"the study '{name}' in {_where(plan, storage)} belongs to another recipe (hash "
                             f"{found}, this recipe's {plan.fingerprint}): rename the recipe, or remove "
                             f"{plan.sweep_dir} to start over")
    return study


def _where(plan: SweepPlan, storage: Any) -> str:
    url = getattr(storage, "url", None)
    return shown_url(url) if isinstance(url, str) else str(plan.sweep_dir / JOURNAL)
