"""A ``RequestRecord`` as a ``usage_records`` row and back: the one place that knows how a
record's typed values are spelled in the table.

``requested`` is stored as ``default`` / ``priority`` / ``auto``, or a flex window as
``flex:<ms>``; enums as their values; a provider or route not known (a request that failed
validation) as ``""``; the commission reason inside the ``prices`` JSON.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import orjson

from flexgrpc.db.models import UsageRecord
from flexgrpc.domain import (
    CommissionReason,
    Cost,
    FallbackReason,
    FixedTier,
    Provider,
    ProviderRoute,
    RaceOutcome,
    RequestRecord,
    ServedTier,
    StartWithin,
    Surface,
    TokenCounts,
)

#: The ``requested`` value of every flex race starts so (SQL ``LIKE 'flex:%'`` selects them).
FLEX_PREFIX: Final = "flex:"
_REASON_KEY: Final = "commission_reason"

#: The columns, in the order ``values`` gives them.
COLUMNS: Final = (
    "request_id", "organization_id", "api_key_id", "surface", "model", "provider", "route",
    "requested", "served_tier", "provider_service_tier", "outcome", "flex_attempts",
    "time_to_start_ms", "fallback_after_ms", "fallback_reason", "uncached_input_tokens",
    "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "priced",
    "actual_nano_usd",
    "standard_nano_usd", "savings_nano_usd", "commission_nano_usd", "prices", "error_code",
    "create_time", "create_day", "complete_time",
)  # fmt: skip
assert set(COLUMNS) == {column.key for column in UsageRecord.__table__.columns}


def encode_requested(requested: StartWithin | None) -> str:
    if requested is None:
        return ""
    if requested.tier is not None:
        return requested.tier.value
    return f"{FLEX_PREFIX}{requested.window_ms}"


def decode_requested(value: str) -> StartWithin | None:
    if value.startswith(FLEX_PREFIX):
        return StartWithin(window_ms=int(value.removeprefix(FLEX_PREFIX)))
    try:
        return StartWithin(tier=FixedTier(value))
    except ValueError:
        return None


def _prices_json(prices: Mapping[str, Any], reason: CommissionReason) -> str:
    """The prices a record was charged at, with why its commission is what it is, as sorted
    compact JSON. orjson takes a tenth of json.dumps's time here, on the path each caller waits
    on; it refuses integers beyond 64 bits, which the standard encoder still writes."""
    document = {**prices, _REASON_KEY: reason.value}
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


def values(record: RequestRecord) -> tuple[Any, ...]:
    """The row of ``record``, in ``COLUMNS`` order."""
    tokens, cost = record.tokens, record.cost
    return (
        record.request_id,
        record.organization_id,
        record.api_key_id,
        record.surface.value,
        record.model,
        record.provider.value if record.provider is not None else "",
        record.route.value if record.route is not None else "",
        encode_requested(record.requested),
        record.served_tier.value,
        record.provider_service_tier,
        record.outcome.value,
        record.flex_attempts,
        record.time_to_start_ms,
        record.fallback_after_ms,
        record.fallback_reason.value if record.fallback_reason is not None else None,
        tokens.uncached_input,
        tokens.cached_input,
        tokens.cache_write,
        tokens.output,
        tokens.reasoning,
        cost.priced,
        cost.actual_nano_usd or 0,
        cost.standard_nano_usd or 0,
        cost.savings_nano_usd,
        cost.commission_nano_usd,
        _prices_json(cost.prices, cost.reason),
        record.error_code,
        record.create_time,
        record.create_day,
        record.complete_time,
    )


_E = TypeVar("_E", bound=enum.Enum)


def _enum(kind: type[_E], value: str) -> _E | None:
    try:
        return kind(value)
    except ValueError:
        return None


def record_of(row: UsageRecord) -> RequestRecord:
    """The record a stored row holds."""
    prices: dict[str, Any] = json.loads(row.prices or "{}")
    reason = _enum(CommissionReason, str(prices.pop(_REASON_KEY, ""))) or CommissionReason.UNPRICED
    return RequestRecord(
        request_id=row.request_id,
        organization_id=row.organization_id,
        api_key_id=row.api_key_id,
        surface=_enum(Surface, row.surface) or Surface.RESPONSES,
        create_time=row.create_time,
        complete_time=row.complete_time,
        outcome=_enum(RaceOutcome, row.outcome) or RaceOutcome.FAILED,
        model=row.model,
        provider=_enum(Provider, row.provider),
        route=_enum(ProviderRoute, row.route),
        requested=decode_requested(row.requested),
        served_tier=_enum(ServedTier, row.served_tier) or ServedTier.UNKNOWN,
        provider_service_tier=row.provider_service_tier,
        flex_attempts=row.flex_attempts,
        time_to_start_ms=row.time_to_start_ms,
        fallback_after_ms=row.fallback_after_ms,
        fallback_reason=_enum(FallbackReason, row.fallback_reason or ""),
        tokens=TokenCounts(
            uncached_input=row.uncached_input_tokens,
            cached_input=row.cached_input_tokens,
            cache_write=row.cache_write_tokens,
            output=row.output_tokens,
            reasoning=row.reasoning_tokens,
        ),
        cost=Cost(
            reason=reason,
            actual_nano_usd=row.actual_nano_usd if row.priced else None,
            # The standard side may be known when the served one is not (an unpriced tier).
            standard_nano_usd=(
                row.standard_nano_usd if row.priced or row.standard_nano_usd else None
            ),
            savings_nano_usd=row.savings_nano_usd,
            commission_nano_usd=row.commission_nano_usd,
            prices=prices,
        ),
        error_code=row.error_code,
    )
