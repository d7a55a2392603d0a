"""Database access: engines, sessions, the typed models and the Alembic migrations.

SQLite (WAL) is the embedded default; PostgreSQL is the production and multi-replica store.
"""

from flexgrpc.db.engine import (
    WRITE_TRANSACTION,
    make_engine,
    make_sessionmaker,
    normalize_database_url,
    write_session,
)

__all__ = [
    "WRITE_TRANSACTION",
    "make_engine",
    "make_sessionmaker",
    "normalize_database_url",
    "write_session",
]
