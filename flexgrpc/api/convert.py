"""Conversions every servicer shares: times to proto Timestamps, nano-USD to client micro-USD."""

from __future__ import annotations

import datetime as dt

from flexinference.v1 import types_pb2
from google.protobuf import timestamp_pb2

from flexgrpc.domain import Cost
from flexgrpc.errors import FlexError
from flexgrpc.pricing.money import NanoUSD, nano_to_micro


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


#: A Timestamp's valid range (google/protobuf/timestamp.proto): 0001-01-01 to 9999-12-31, UTC.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799


def request_time(stamp: timestamp_pb2.Timestamp, field: str) -> dt.datetime:
    """A caller's Timestamp as an aware UTC datetime; one outside the Timestamp's own range (a
    gRPC caller can send any 64-bit seconds) is the caller's error, not the server's."""
    if not _MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS or not 0 <= stamp.nanos < 10**9:
        raise FlexError(
            "invalid_argument",
            f"{field} is outside the Timestamp range 0001-01-01T00:00:00Z to "
            "9999-12-31T23:59:59.999999999Z; send a time in it, e.g. 2026-11-01T00:00:00Z.",
            field=field,
        )
    return stamp.ToDatetime(tzinfo=dt.UTC)


def micro_usd(nano: int) -> int:
    """Nano-USD as the micro-USD clients see (the pricing module's one rounding rule)."""
    return int(nano_to_micro(NanoUSD(nano)))


def money_message(actual: int, standard: int, savings: int, commission: int) -> types_pb2.Cost:
    """A ``Cost`` message from nano-USD amounts (an unknown amount is 0)."""
    return types_pb2.Cost(
        actual_micro_usd=micro_usd(actual),
        standard_micro_usd=micro_usd(standard),
        savings_micro_usd=micro_usd(savings),
        commission_micro_usd=micro_usd(commission),
        currency_code="USD",
    )


def cost_message(cost: Cost) -> types_pb2.Cost:
    """The ``Cost`` message of one request's cost."""
    return money_message(
        cost.actual_nano_usd or 0,
        cost.standard_nano_usd or 0,
        cost.savings_nano_usd,
        cost.commission_nano_usd,
    )
