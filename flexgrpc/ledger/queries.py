"""Reading an organization's usage: filtered, paginated listings and grouped summaries."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.db.models import UsageDaily, UsageRecord
from flexgrpc.domain import RaceOutcome, RequestRecord, ServedTier
from flexgrpc.ledger.days import DaySplit, split_days
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
        """Totals per group (ordered by day, then model); one row when not grouped.

        Whole UTC days come from ``usage_daily`` (a few hundred rows a month), the partial days
        at the range's edges from the records; a filter on served tier or outcome, which the
        daily rows do not keep, reads the records throughout."""
        split = None if f.served_tier or f.outcome else split_days(f.start_time, f.end_time)
        totals: dict[tuple[str | None, str | None], list[int]] = {}
        with self._sessions() as session:
            if split is None:
                parts = [self._from_records(session, f, by_model, by_day)]
            else:
                parts = [self._from_days(session, f, split, by_model, by_day)]
                for start, end in split.edges:
                    edge = dataclasses.replace(f, start_time=start, end_time=end)
                    parts.append(self._from_records(session, edge, by_model, by_day))
            for rows in parts:
                for row in rows:
                    values = list(row)
                    day = str(values.pop(0)) if by_day else None
                    model = str(values.pop(0)) if by_model else None
                    sums = totals.setdefault((day, model), [0] * 7)
                    for i, value in enumerate(values):
                        sums[i] += int(value or 0)
        if not by_day and not by_model:
            return [Summary(None, None, *totals.get((None, None), [0] * 7))]
        return [
            Summary(model, day, *sums)
            for (day, model), sums in sorted(
                totals.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")
            )
            if sums[0]
        ]

    @staticmethod
    def _from_records(
        session: Session, f: RecordFilter, by_model: bool, by_day: bool
    ) -> Sequence[Row[Any]]:
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
            func.sum(raced),
            func.sum(won),
            func.sum(UsageRecord.actual_nano_usd),
            func.sum(UsageRecord.standard_nano_usd),
            func.sum(UsageRecord.savings_nano_usd),
            func.sum(UsageRecord.commission_nano_usd),
        ).select_from(UsageRecord)
        query = _filtered(query, f)
        if keys:
            query = query.group_by(*keys)
        return session.execute(query).all()

    @staticmethod
    def _from_days(
        session: Session, f: RecordFilter, split: DaySplit, by_model: bool, by_day: bool
    ) -> Sequence[Row[Any]]:
        d = UsageDaily
        keys = [c for c, wanted in ((d.create_day, by_day), (d.model, by_model)) if wanted]
        query: AnySelect = select(
            *keys,
            func.sum(d.requests),
            func.sum(d.flex_races),
            func.sum(d.flex_won),
            func.sum(d.actual_nano_usd),
            func.sum(d.standard_nano_usd),
            func.sum(d.savings_nano_usd),
            func.sum(d.commission_nano_usd),
        ).where(d.organization_id == f.organization_id)
        if split.first_day is not None:
            query = query.where(d.create_day >= split.first_day)
        if split.end_day is not None:
            query = query.where(d.create_day < split.end_day)
        if f.model:
            query = query.where(d.model == f.model)
        if keys:
            query = query.group_by(*keys)
        return session.execute(query).all()
