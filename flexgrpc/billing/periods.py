"""Billing periods: UTC calendar months, written ``YYYY-MM``."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from flexgrpc.errors import FlexError

_SHAPE: Final = re.compile(r"(?P<year>[0-9]{4})-(?P<month>0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """One UTC calendar month: ``[start, end)``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, *, field: str = "period") -> Period:
        match = _SHAPE.fullmatch(text)
        if match is None or int(match["year"]) < 1970:
            raise FlexError(
                "invalid_argument",
                f"{field} must be a UTC calendar month written YYYY-MM (for example 2026-11), "
                f"got {text[:40]!r}.",
                field=field,
            )
        return cls(int(match["year"]), int(match["month"]))

    @classmethod
    def containing(cls, moment: dt.datetime) -> Period:
        utc = moment.astimezone(dt.UTC)
        return cls(utc.year, utc.month)

    @classmethod
    def last_ended(cls, now: dt.datetime) -> Period:
        """The month that ended most recently before ``now`` (the default period to close)."""
        return cls.containing(now).previous()

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """The first instant of the next month (exclusive)."""
        return self.next().start

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def has_ended(self, now: dt.datetime) -> bool:
        return now >= self.end

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
