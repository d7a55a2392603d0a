"""How pages and the CSV export write numbers: money from integer micro-USD, exactly, and times
in UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import timestamp_pb2


def decimal_usd(micro: int, places: int = 6) -> str:
    """Micro-USD as a plain decimal string (``72000`` → ``0.072000``), exact, no float."""
    sign = "-" if micro < 0 else ""
    whole, fraction = divmod(abs(micro), 1_000_000)
    digits = f"{fraction:06d}"[:places]
    return f"{sign}{whole}.{digits}" if places else f"{sign}{whole}"


def usd(micro: int, places: int | None = None) -> str:
    """``$1,234.56``, ``$0.072000``: truncated (never rounded up) to ``places``; by default
    cents from a dollar up, and micro-dollars below, where a request's savings are."""
    if places is None:
        places = 6 if 0 < abs(micro) < 1_000_000 else 2
    plain = decimal_usd(micro, places)
    sign = "-" if plain.startswith("-") else ""
    whole, _, fraction = plain.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    return f"{sign}${grouped}.{fraction}" if fraction else f"{sign}${grouped}"


def cents(micro: int) -> str:
    return usd(micro, 2)


def percent(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def when(stamp: timestamp_pb2.Timestamp | None) -> str:
    if stamp is None or (stamp.seconds == 0 and stamp.nanos == 0):
        return ""
    return stamp.ToDatetime(tzinfo=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def enum_word(name: str) -> str:
    """``INVOICE_STATE_PAST_DUE`` → ``past due`` (the words after the enum's own name)."""
    for prefix in (
        "INVOICE_STATE_",
        "PAYMENT_ATTEMPT_STATE_",
        "SERVED_TIER_",
        "RACE_OUTCOME_",
        "START_WITHIN_SOURCE_",
    ):
        if name.startswith(prefix):
            return name.removeprefix(prefix).replace("_", " ").lower()
    return name.lower()


FILTERS: Final[dict[str, Callable[..., Any]]] = {
    "usd": usd,
    "cents": cents,
    "percent": percent,
    "when": when,
    "enum_word": enum_word,
}
