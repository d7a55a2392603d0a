"""The Alembic environment. Run only through ``flexgrpc.db.migrate``, which hands over an open
connection in ``config.attributes["connection"]`` (no alembic.ini, no environment variables).

Every replica runs the migrations on start, possibly at the same moment, so the whole upgrade
is one transaction that first takes a database-wide lock: the first process migrates, the others
wait, then find the schema at head and do nothing. PostgreSQL has transactional DDL and a
transaction-scoped advisory lock; SQLite gets ``BEGIN IMMEDIATE``, its write lock (and, with
SQLAlchemy emitting BEGIN, SQLite's DDL is transactional too).
"""

from __future__ import annotations

from typing import Final

from alembic import context
from sqlalchemy import Connection, text

from flexgrpc.db.engine import SQLITE_BEGIN_OPTION
from flexgrpc.db.models import Base

#: Key of the PostgreSQL advisory lock that serialises migrations ("flexmigr" in ASCII). Any
#: fixed 64-bit number works, as long as nothing else in the database uses it.
MIGRATION_LOCK_KEY: Final = 0x666C65786D696772


def _run_migrations(connection: Connection) -> None:
    connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    with connection.begin():
        if connection.dialect.name == "postgresql":
            # Released by the COMMIT (or ROLLBACK) that ends this transaction.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        # Configured inside our transaction, so Alembic treats it as external: it neither
        # commits between revisions nor after the last one. One commit, all or nothing.
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("flexgrpc migrations run online only, through flexgrpc.db.migrate")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "run migrations with flexgrpc.db.migrate.upgrade(url), not the alembic command line"
        )
    _run_migrations(connection)


_main()
