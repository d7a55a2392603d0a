"""The usage period a page shows: a UTC calendar month, ``YYYY-MM`` (this month by default)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from flexgrpc.errors import FlexError

_SHAPE: Final = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, raw: str | None, today: dt.date) -> Month:
        if not raw:
            return cls(today.year, today.month)
        found = _SHAPE.fullmatch(raw)
        if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 2000:
            raise FlexError(
                "invalid_argument",
                f"period must be a UTC month written YYYY-MM, for example "
                f"{today:%Y-%m}; got {raw[:20]!r}.",
                field="period",
            )
        return cls(int(found[1]), int(found[2]))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return self.following.start

    @property
    def following(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def days(self) -> list[dt.date]:
        first = self.start.date()
        count = (self.end.date() - first).days
        return [first + dt.timedelta(days=n) for n in range(count)]
