"""Reading an organization's usage: filtered, paginated listings and grouped summaries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.db.models import UsageRecord
from flexgrpc.domain import RaceOutcome, RequestRecord, ServedTier
from flexgrpc.ledger.rows import FLEX_PREFIX, record_of

AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class RecordFilter:
    organization_id: str
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    model: str | None = None
    served_tier: ServedTier | None = None
    outcome: RaceOutcome | None = None


@dataclass(frozen=True)
class Summary:
    model: str | None
    day: str | None
    requests: int
    flex_races: int
    flex_won: int
    actual_nano_usd: int
    standard_nano_usd: int
    savings_nano_usd: int
    commission_nano_usd: int


def _filtered(query: AnySelect, f: RecordFilter) -> AnySelect:
    query = query.where(UsageRecord.organization_id == f.organization_id)
    if f.start_time is not None:
        query = query.where(UsageRecord.create_time >= f.start_time)
    if f.end_time is not None:
        query = query.where(UsageRecord.create_time < f.end_time)
    if f.model:
        query = query.where(UsageRecord.model == f.model)
    if f.served_tier is not None:
        query = query.where(UsageRecord.served_tier == f.served_tier.value)
    if f.outcome is not None:
        query = query.where(UsageRecord.outcome == f.outcome.value)
    return query


class UsageQueries:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def page(
        self, f: RecordFilter, limit: int, after: tuple[dt.datetime, str] | None
    ) -> list[RequestRecord]:
        """Up to ``limit`` records, newest first, strictly after the ``(time, id)`` cursor."""
        query = _filtered(select(UsageRecord), f)
        if after is not None:
            time, request_id = after
            query = query.where(
                or_(
                    UsageRecord.create_time < time,
                    and_(UsageRecord.create_time == time, UsageRecord.request_id < request_id),
                )
            )
        query = query.order_by(UsageRecord.create_time.desc(), UsageRecord.request_id.desc())
        with self._sessions() as session:
            return [record_of(row) for row in session.scalars(query.limit(limit))]

    def get(self, organization_id: str, request_id: str) -> RequestRecord | None:
        with self._sessions() as session:
            found = session.get(UsageRecord, request_id)
            if found is None or found.organization_id != organization_id:
                return None
            return record_of(found)

    def summarize(self, f: RecordFilter, *, by_model: bool, by_day: bool) -> list[Summary]:
        """Totals per group (ordered by day, then model); one row when not grouped."""
        keys = [
            c
            for c, wanted in ((UsageRecord.create_day, by_day), (UsageRecord.model, by_model))
            if wanted
        ]
        raced = case((UsageRecord.requested.like(f"{FLEX_PREFIX}%"), 1), else_=0)
        won = case((UsageRecord.outcome == RaceOutcome.FLEX_WON.value, 1), else_=0)
        query: AnySelect = select(
            *keys,
            func.count(),
            func.coalesce(func.sum(raced), 0),
            func.coalesce(func.sum(won), 0),
            func.coalesce(func.sum(UsageRecord.actual_nano_usd), 0),
            func.coalesce(func.sum(UsageRecord.standard_nano_usd), 0),
            func.coalesce(func.sum(UsageRecord.savings_nano_usd), 0),
            func.coalesce(func.sum(UsageRecord.commission_nano_usd), 0),
        ).select_from(UsageRecord)
        query = _filtered(query, f)
        if keys:
            query = query.group_by(*keys).order_by(*keys)
        with self._sessions() as session:
            rows = session.execute(query).all()
        summaries = []
        for row in rows:
            values = list(row)
            day = str(values.pop(0)) if by_day else None
            model = str(values.pop(0)) if by_model else None
            counts: list[int] = [int(value) for value in values]
            if not by_day and not by_model and counts[0] == 0:
                counts = [0] * 7
            summaries.append(Summary(model, day, *counts))
        return summaries
