"""Durable storage of usage records and ledger entries (SQLite or PostgreSQL).

``write`` stores many records in ONE transaction (group commit) and posts each commission as a
balanced pair of entries. Both inserts ignore rows that already exist, so replaying a record
writes nothing twice: the usage record is keyed by request id and each ledger leg by
(transaction id, account).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.db.models import LedgerEntry, UsageRecord
from flexgrpc.ledger.bulk_insert import BulkInsert
from flexgrpc.ledger.records import COMMISSION_REVENUE, RECEIVABLE, UsageRow


def _usage_values(row: UsageRow) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "organization_id": row.organization_id,
        "api_key_id": row.api_key_id,
        "surface": row.surface,
        "model": row.model,
        "provider": row.provider,
        "route": row.route,
        "requested": row.requested,
        "served_tier": row.served_tier,
        "provider_service_tier": row.provider_service_tier,
        "outcome": row.outcome,
        "flex_attempts": row.flex_attempts,
        "time_to_start_ms": row.time_to_start_ms,
        "fallback_after_ms": row.fallback_after_ms,
        "uncached_input_tokens": row.uncached_input_tokens,
        "cached_input_tokens": row.cached_input_tokens,
        "cache_write_tokens": row.cache_write_tokens,
        "output_tokens": row.output_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "priced": row.priced,
        "actual_nano_usd": row.actual_nano_usd,
        "standard_nano_usd": row.standard_nano_usd,
        "savings_nano_usd": row.savings_nano_usd,
        "commission_nano_usd": row.commission_nano_usd,
        "prices": json.dumps(row.prices, sort_keys=True, separators=(",", ":")),
        "error_code": row.error_code,
        "create_time": row.create_time,
        "create_day": row.create_day,
        "complete_time": row.complete_time,
    }


_USAGE_KEYS: Final = tuple(column.key for column in UsageRecord.__table__.columns)
_ENTRY_KEYS: Final = (
    "transaction_id",
    "organization_id",
    "account",
    "amount_nano_usd",
    "create_time",
)


class LedgerStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        engine = sessions.kw.get("bind")
        if not isinstance(engine, Engine):
            raise TypeError("the ledger's sessionmaker must be bound to an Engine")
        self._engine = engine
        self._begin = "BEGIN IMMEDIATE" if engine.dialect.name == "sqlite" else None
        self._records = BulkInsert(engine, UsageRecord, _USAGE_KEYS)
        self._entries = BulkInsert(engine, LedgerEntry, _ENTRY_KEYS)

    def write(self, rows: Sequence[UsageRow]) -> None:
        """Store ``rows`` and their commissions durably, in one transaction."""
        now = dt.datetime.now(dt.UTC)
        entries: list[dict[str, Any]] = []
        for row in rows:
            if row.commission_nano_usd > 0:
                transaction = row.commission_transaction()
                for account, amount in (
                    (RECEIVABLE, row.commission_nano_usd),
                    (COMMISSION_REVENUE, -row.commission_nano_usd),
                ):
                    entries.append(
                        {
                            "transaction_id": transaction,
                            "organization_id": row.organization_id,
                            "account": account,
                            "amount_nano_usd": amount,
                            "create_time": now,
                        }
                    )
        records = self._records.parameters([_usage_values(row) for row in rows])
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            if self._begin:
                # Take SQLite's write lock up front so a concurrent writer waits (busy timeout)
                # instead of failing; see flexgrpc.db.engine.
                cursor.execute(self._begin)
            cursor.executemany(self._records.sql, records)
            if entries:
                cursor.executemany(self._entries.sql, self._entries.parameters(entries))
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()

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
