"""``RequestRecord``s for tests that store records without routing a request."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from flexgrpc.domain import (
    CommissionReason,
    Cost,
    Provider,
    ProviderRoute,
    RaceOutcome,
    RequestRecord,
    ServedTier,
    StartWithin,
    Surface,
    TokenCounts,
)

NOON = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
SOME_TOKENS = TokenCounts(uncached_input=10, cached_input=2, output=40)


def flex_record(
    org: str,
    request_id: str,
    *,
    commission: int = 0,
    savings: int | None = None,
    actual: int | None = None,
    standard: int | None = None,
    at: dt.datetime = NOON,
    prices: Mapping[str, Any] | None = None,
    tokens: TokenCounts = SOME_TOKENS,
) -> RequestRecord:
    """A flex race on gpt-5-mini that won (or, without commission, was free), with the given
    money in nano-USD: by default savings = 5 x commission, actual = savings, standard = 2 x."""
    savings = commission * 5 if savings is None else savings
    return RequestRecord(
        request_id=request_id,
        organization_id=org,
        api_key_id="key_1",
        surface=Surface.RESPONSES,
        create_time=at,
        complete_time=at,
        outcome=RaceOutcome.FLEX_WON if commission else RaceOutcome.FREE_TIER,
        model="gpt-5-mini",
        provider=Provider.OPENAI,
        route=ProviderRoute.OPENAI,
        requested=StartWithin(window_ms=30_000),
        served_tier=ServedTier.FLEX if commission else ServedTier.STANDARD,
        provider_service_tier="flex",
        flex_attempts=1,
        time_to_start_ms=5,
        tokens=tokens,
        cost=Cost(
            reason=CommissionReason.FLEX_SAVED if commission else CommissionReason.FIXED_TIER,
            actual_nano_usd=savings if actual is None else actual,
            standard_nano_usd=savings * 2 if standard is None else standard,
            savings_nano_usd=savings,
            commission_nano_usd=commission,
            prices=prices if prices is not None else {"standard": {"input": 250}},
        ),
    )


def with_cost(record: RequestRecord, **changes: Any) -> RequestRecord:
    """``record`` with some of its cost's fields changed."""
    return dataclasses.replace(record, cost=dataclasses.replace(record.cost, **changes))
