"""Conversions every servicer shares: times to proto Timestamps, nano-USD to client micro-USD."""

from __future__ import annotations

import datetime as dt

from flexinference.v1 import types_pb2
from google.protobuf import timestamp_pb2

from flexgrpc.domain import Cost
from flexgrpc.pricing.money import NanoUSD, nano_to_micro


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


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
