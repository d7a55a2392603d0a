"""Run the packaged Alembic migrations from code: no alembic.ini, no environment variables.

``upgrade`` is meant to be called on every server start, by every replica at once: the
migration environment (``migrations/env.py``) serialises concurrent upgrades with a database
lock and applies them in a single transaction, so a late or concurrent caller finds the schema at
head and changes nothing.
"""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from flexgrpc.db.engine import make_engine

MIGRATIONS_DIR: Final = pathlib.Path(__file__).resolve().with_name("migrations")

# Alembic installs its ``context`` as a module-level proxy while env.py runs, so two upgrades in
# one process must not overlap. Across processes the database lock in env.py does the job.
_one_upgrade_per_process = threading.Lock()


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    # ConfigParser interpolates "%": escape it in case the install path contains one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _connect(target: str | Engine) -> Iterator[Connection]:
    """A connection to ``target``; an engine we create for a URL is disposed afterwards."""
    if isinstance(target, Engine):
        with target.connect() as connection:
            yield connection
        return
    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def upgrade(target: str | Engine) -> None:
    """Bring the database at ``target`` (a URL, or an engine) to the latest revision.

    Pass an engine for an in-memory SQLite database: a URL would get a fresh, private one.
    """
    with _one_upgrade_per_process, _connect(target) as connection:
        command.upgrade(_alembic_config(connection), "head")


def current_revision(target: str | Engine) -> str | None:
    """The revision the database at ``target`` is at; ``None`` if it was never migrated."""
    with _connect(target) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The latest revision shipped with this package."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head
