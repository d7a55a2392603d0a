"""Durable storage of usage records and ledger entries (SQLite or PostgreSQL).

``write`` stores many records in ONE transaction (group commit) and posts each commission as a
balanced pair of entries. Both inserts ignore rows that already exist, so replaying a record
writes nothing twice: the usage record is keyed by request id and each ledger leg by
(transaction id, account).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

from flexgrpc.db.engine import WRITE_TRANSACTION, is_sqlite_file
from flexgrpc.db.inserts import IgnoringInsert
from flexgrpc.db.models import LedgerEntry, LedgerProbe, UsageRecord
from flexgrpc.domain import RequestRecord
from flexgrpc.ledger import rows
from flexgrpc.ledger.records import COMMISSION_REVENUE, RECEIVABLE, commission_transaction

_ENTRY_KEYS: Final = (
    "transaction_id",
    "organization_id",
    "account",
    "amount_nano_usd",
    "create_time",
)


def is_lock_conflict(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked": another connection holds the lock."""
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.OperationalError)
        and isinstance(code, int)
        and code & 0xFF == sqlite3.SQLITE_BUSY
    )


class LedgerStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        engine = sessions.kw.get("bind")
        if not isinstance(engine, Engine):
            raise TypeError("the ledger's sessionmaker must be bound to an Engine")
        self._engine = engine
        self._begin = "BEGIN IMMEDIATE" if engine.dialect.name == "sqlite" else None
        self._local = is_sqlite_file(engine)
        self._records = IgnoringInsert(engine.dialect, UsageRecord, rows.COLUMNS)
        self._entries = IgnoringInsert(engine.dialect, LedgerEntry, _ENTRY_KEYS)

    @property
    def local(self) -> bool:
        """Whether the ledger is a SQLite file: a commit then never waits on a network."""
        return self._local

    def connect_without_waiting(self) -> PoolProxiedConnection:
        """A connection of its own (out of the pool) on which a write that finds another
        connection holding SQLite's write lock fails at once (``is_lock_conflict``) instead of
        waiting up to the busy timeout."""
        connection = self._engine.raw_connection()
        connection.detach()  # its busy timeout must not reach the pool's other users
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=0")
        finally:
            cursor.close()
        return connection

    def connect(self) -> PoolProxiedConnection:
        """A database connection for ``write``, for a writer that keeps one (returned with
        ``close()``)."""
        return self._engine.raw_connection()

    def write(
        self, records: Sequence[RequestRecord], connection: PoolProxiedConnection | None = None
    ) -> None:
        """Store ``records`` and their commissions durably, in one transaction: on ``connection``
        if given (it stays open), else on one taken from the pool for this call.

        A writer that commits one transaction after another keeps its connection: checking one
        out of the pool and back in costs as much as converting the record's values."""
        now = dt.datetime.now(dt.UTC)
        entries: list[tuple[Any, ...]] = []
        for record in records:
            commission = record.cost.commission_nano_usd
            if commission > 0:
                transaction = commission_transaction(record.request_id)
                org = record.organization_id
                entries.append((transaction, org, RECEIVABLE, commission, now))
                entries.append((transaction, org, COMMISSION_REVENUE, -commission, now))
        parameters = self._records.parameters([rows.values(record) for record in records])
        owned = connection is None
        if connection is None:
            connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            if self._begin:
                # Take SQLite's write lock up front so a concurrent writer waits (busy timeout)
                # instead of failing; see flexgrpc.db.engine.
                cursor.execute(self._begin)
            cursor.executemany(self._records.sql, parameters)
            if entries:
                cursor.executemany(self._entries.sql, self._entries.parameters(entries))
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            if owned:
                connection.close()

    def probe(self) -> None:
        """Commit one small write (the ``ledger_probe`` row); raise when the database cannot
        take it now: a read-only file or replica, a full disk, a lost connection. Another
        writer holding SQLite's lock past the busy timeout is not a failure: it is writing."""
        try:
            with self._engine.connect() as connection:
                connection = connection.execution_options(**WRITE_TRANSACTION)
                with connection.begin():
                    stamp = dt.datetime.now(dt.UTC)
                    connection.execute(update(LedgerProbe).values(probe_time=stamp))
        except Exception as exc:
            if not is_lock_conflict(getattr(exc, "orig", exc)):
                raise

    def balance(self, organization_id: str, account: str = RECEIVABLE) -> int:
        """The account's balance in nano-USD: the sum of its entries."""
        with self._sessions() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount_nano_usd), 0)).where(
                    LedgerEntry.organization_id == organization_id,
                    LedgerEntry.account == account,
                )
            )
        return int(total or 0)

    def count_records(self, organization_id: str | None = None) -> int:
        with self._sessions() as session:
            query = select(func.count()).select_from(UsageRecord)
            if organization_id is not None:
                query = query.where(UsageRecord.organization_id == organization_id)
            return int(session.scalar(query) or 0)

    def has_record(self, request_id: str) -> bool:
        with self._sessions() as session:
            return session.get(UsageRecord, request_id) is not None
