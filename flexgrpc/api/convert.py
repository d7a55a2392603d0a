"""Conversions every servicer shares: times to proto Timestamps, nano-USD to client micro-USD."""

from __future__ import annotations

import datetime as dt

from flexinference.v1 import types_pb2
from google.protobuf import timestamp_pb2

from flexgrpc.pricing.money import NanoUSD, nano_to_micro


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def micro_usd(nano: int) -> int:
    """Nano-USD as the micro-USD clients see (the pricing module's one rounding rule)."""
    return int(nano_to_micro(NanoUSD(nano)))


def cost(actual: int, standard: int, savings: int, commission: int) -> types_pb2.Cost:
    """A ``Cost`` message from nano-USD amounts."""
    return types_pb2.Cost(
        actual_micro_usd=micro_usd(actual),
        standard_micro_usd=micro_usd(standard),
        savings_micro_usd=micro_usd(savings),
        commission_micro_usd=micro_usd(commission),
        currency_code="USD",
    )
