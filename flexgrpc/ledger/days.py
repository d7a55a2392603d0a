"""A time range split into the whole UTC days ``usage_daily`` answers for and the partial days
at its edges, which only the records can answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class DaySplit:
    """``[first_day, end_day)`` whole days (``None``: unbounded on that side), plus the
    record time ranges before and after them."""

    first_day: str | None
    end_day: str | None
    edges: tuple[tuple[dt.datetime | None, dt.datetime | None], ...]


def split_days(start: dt.datetime | None, end: dt.datetime | None) -> DaySplit | None:
    """How ``[start, end)`` splits, or ``None`` when it holds no whole day (read the records)."""
    first: dt.date | None = None
    if start is not None:
        utc = start.astimezone(dt.UTC)
        first = utc.date() if utc == _midnight(utc.date()) else utc.date() + dt.timedelta(days=1)
    last: dt.date | None = end.astimezone(dt.UTC).date() if end is not None else None
    if first is not None and last is not None and first >= last:
        return None
    edges: list[tuple[dt.datetime | None, dt.datetime | None]] = []
    if start is not None and first is not None and start < _midnight(first):
        edges.append((start, _midnight(first)))
    if end is not None and last is not None and end > _midnight(last):
        edges.append((_midnight(last), end))
    return DaySplit(
        first.isoformat() if first is not None else None,
        last.isoformat() if last is not None else None,
        tuple(edges),
    )
