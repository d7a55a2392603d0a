"""Engines and sessions for the two supported databases: SQLite (embedded) and PostgreSQL.

SQLite is tuned for a ledger that must not lose a delivered answer's record (SPEC §5):
write-ahead logging so readers never block the writer, ``synchronous=FULL`` so a committed
transaction survives power loss (in WAL mode ``NORMAL`` only survives a process crash), a busy
timeout so concurrent writers wait instead of failing, and foreign keys enforced.

SQLAlchemy, not the ``sqlite3`` module, decides where SQLite transactions begin. Python's
driver by default ("legacy transaction control") emits no BEGIN before SELECT or DDL, which makes
DDL autocommit (a migration could half-apply), breaks SAVEPOINT and makes reads unrepeatable.
We switch that off and emit BEGIN ourselves, as the SQLAlchemy SQLite documentation recommends.
A transaction that reads and then writes should start with ``BEGIN IMMEDIATE`` (use
``write_session`` or ``WRITE_TRANSACTION``): in WAL mode a deferred transaction that read an old
snapshot cannot be upgraded to a writer and fails at once with "database is locked" instead of
waiting for the busy timeout.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

_log = logging.getLogger(__name__)

#: Execution option read when a SQLite transaction begins: "DEFERRED" (default) or "IMMEDIATE".
SQLITE_BEGIN_OPTION: Final = "flexgrpc_sqlite_begin"

#: Execution options for a transaction that will write. On SQLite it takes the write lock up
#: front (``BEGIN IMMEDIATE``), so a concurrent writer makes it wait, not fail. PostgreSQL
#: ignores it.
WRITE_TRANSACTION: Final[Mapping[str, Any]] = {SQLITE_BEGIN_OPTION: "IMMEDIATE"}

_SQLITE_BEGIN_MODES: Final = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
_SQLITE_BUSY_TIMEOUT_MS: Final = 5000
_POSTGRES_DRIVER: Final = "postgresql+psycopg"


def normalize_database_url(url: str | URL) -> URL:
    """``url`` parsed, with PostgreSQL URLs pointed at the psycopg (v3) driver.

    ``postgres://`` (Heroku-style) and driverless ``postgresql://`` URLs would otherwise select
    psycopg2, which this project does not install. Errors never echo the URL: it may carry a
    password.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "the database URL could not be parsed; expected e.g. sqlite:///flexgrpc.db or "
            "postgresql+psycopg://user:password@host:5432/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed
    if backend in ("postgres", "postgresql"):
        driver = parsed.get_driver_name() if "+" in parsed.drivername else None
        return parsed.set(drivername=f"postgresql+{driver}" if driver else _POSTGRES_DRIVER)
    raise ValueError(
        f"unsupported database backend {backend!r}: use sqlite:///path.db or "
        "postgresql+psycopg://user:password@host:5432/dbname"
    )


def make_engine(url: str | URL) -> Engine:
    """An engine for a SQLite or PostgreSQL URL, configured as described in this module."""
    parsed = normalize_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed)
    connect_args: dict[str, Any] = {}
    if "application_name" not in parsed.query:
        # Lets an operator tell our connections apart in pg_stat_activity.
        connect_args["application_name"] = "flexgrpc"
    # pre_ping: replicas hold pooled connections across PostgreSQL restarts and failovers.
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (callers build immutable infos)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def write_session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction that will write; commits on success, rolls back on error."""
    with sessions.begin() as session:
        # Acquire the connection now so its BEGIN carries WRITE_TRANSACTION.
        session.connection(execution_options=dict(WRITE_TRANSACTION))
        yield session


def is_sqlite_file(engine: Engine) -> bool:
    """Whether ``engine`` is SQLite on a file (not in memory, not PostgreSQL)."""
    return engine.dialect.name == "sqlite" and not is_sqlite_memory(engine.url)


def is_sqlite_memory(url: URL) -> bool:
    """A SQLite URL whose database lives in one connection's memory (in any of its spellings)."""
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory")
        or (url.query.get("mode") == "memory")
    )


def _make_sqlite_engine(url: URL) -> Engine:
    in_memory = is_sqlite_memory(url)
    if in_memory:
        # One connection shared by every thread: each new connection would be a new, empty
        # database. Good for tests and demos; concurrent writers need a file or PostgreSQL.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        # Pooled connections move between threads (the server calls the store from a pool).
        engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure_sqlite_connection(
        dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry
    ) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        # Let SQLAlchemy emit BEGIN (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            mode = cursor.fetchone()
            if not in_memory and (mode is None or str(mode[0]).lower() != "wal"):
                _log.warning("SQLite refused WAL journal mode; got %r", mode)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_sqlite_transaction(connection: Connection) -> None:
        mode = str(connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED"))
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be one of {sorted(_SQLITE_BEGIN_MODES)}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
