"""UsageService: an organization's records and summaries (micro-USD, rounded half up once)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from flexinference.v1 import types_pb2, usage_pb2, usage_pb2_grpc
from google.protobuf import timestamp_pb2
from google.type import date_pb2

from flexgrpc.api.auth import current_principal
from flexgrpc.api.convert import cost_message, money_message, request_time, timestamp
from flexgrpc.api.enums import (
    FIXED_TIERS,
    OUTCOME_OF,
    OUTCOMES,
    ROUTES,
    SERVED_TIER_OF,
    SERVED_TIERS,
    START_WITHIN_SOURCES,
    SURFACES,
)
from flexgrpc.api.pagination import (
    decode_token,
    encode_token,
    offset_cursor,
    page_size,
    time_cursor,
)
from flexgrpc.api.resources import organization_id
from flexgrpc.domain import RequestRecord, ServedTier, StartWithin
from flexgrpc.errors import FlexError
from flexgrpc.ledger.queries import RecordFilter, Summary, UsageQueries
from flexgrpc.pricing.money import parse_usd_per_million

_GROUPING = {
    usage_pb2.SUMMARY_GROUPING_UNSPECIFIED: (True, True),
    usage_pb2.SUMMARY_GROUPING_MODEL_DAY: (True, True),
    usage_pb2.SUMMARY_GROUPING_MODEL: (True, False),
    usage_pb2.SUMMARY_GROUPING_DAY: (False, True),
    usage_pb2.SUMMARY_GROUPING_NONE: (False, False),
}


def _requested(requested: StartWithin | None) -> types_pb2.RequestedTier:
    message = types_pb2.RequestedTier()
    if requested is not None and requested.window_ms is not None:
        message.flex_window.FromMilliseconds(requested.window_ms)
    elif requested is not None and requested.tier is not None:
        message.tier = FIXED_TIERS[requested.tier]
    return message


def _per_mtok(rates: dict[str, Any], name: str) -> int:
    """A catalog rate ("1.25" USD per 1M tokens) in micro-USD per 1M tokens (exact)."""
    raw = rates.get(name)
    # pico-USD per token and micro-USD per million tokens are the same number.
    return int(parse_usd_per_million(raw)) if isinstance(raw, str) else 0


def _prices(data: Mapping[str, Any], key: str) -> usage_pb2.TierPrices | None:
    side = data.get(key)
    if not isinstance(side, dict) or not isinstance(side.get("usd_per_million_tokens"), dict):
        return None
    rates = side["usd_per_million_tokens"]
    return usage_pb2.TierPrices(
        tier=_price_tier(side.get("tier")),
        input_micro_usd_per_mtok=_per_mtok(rates, "input"),
        cached_input_micro_usd_per_mtok=_per_mtok(rates, "cached_input"),
        cache_write_micro_usd_per_mtok=_per_mtok(rates, "cache_write"),
        output_micro_usd_per_mtok=_per_mtok(rates, "output"),
        effective_date=str(data.get("as_of", "")),
    )


def _price_tier(name: Any) -> types_pb2.ServedTier.ValueType:
    try:
        return SERVED_TIERS[ServedTier(name)]
    except ValueError:
        return types_pb2.SERVED_TIER_UNSPECIFIED


def record_message(r: RequestRecord) -> usage_pb2.UsageRecord:
    tokens = r.tokens
    message = usage_pb2.UsageRecord(
        name=f"organizations/{r.organization_id}/usageRecords/{r.request_id}",
        request_id=r.request_id,
        api_key_id=r.api_key_id,
        surface=SURFACES[r.surface],
        model=r.model,
        provider=ROUTES[r.route] if r.route is not None else types_pb2.PROVIDER_ROUTE_UNSPECIFIED,
        requested_tier=_requested(r.requested),
        served_tier=SERVED_TIERS[r.served_tier],
        provider_service_tier=r.provider_service_tier,
        outcome=OUTCOMES[r.outcome],
        flex_attempts=r.flex_attempts,
        start_within_source=(
            START_WITHIN_SOURCES[r.start_within_source]
            if r.start_within_source is not None
            else types_pb2.START_WITHIN_SOURCE_UNSPECIFIED
        ),
        retries=r.retries,
        tokens=types_pb2.TokenCounts(
            uncached_input_tokens=tokens.uncached_input,
            cached_input_tokens=tokens.cached_input,
            cache_write_tokens=tokens.cache_write,
            output_tokens=tokens.output,
            reasoning_tokens=tokens.reasoning,
        ),
        cost=cost_message(r.cost),
        error_code=r.error_code,
        fallback_reason=r.fallback_reason.value if r.fallback_reason is not None else "",
        create_time=timestamp(r.create_time),
        complete_time=timestamp(r.complete_time),
    )
    if r.time_to_start_ms is not None:
        message.time_to_start.FromMilliseconds(r.time_to_start_ms)
    prices = r.cost.prices
    for key, field in (("actual", "actual_prices"), ("standard", "standard_prices")):
        found = _prices(prices, key)
        if found is not None:
            getattr(message, field).CopyFrom(found)
    return message


def _summary_message(s: Summary) -> usage_pb2.UsageSummary:
    message = usage_pb2.UsageSummary(
        model=s.model or "",
        request_count=s.requests,
        flex_race_count=s.flex_races,
        flex_won_count=s.flex_won,
        flex_share=s.flex_races / s.requests if s.requests else 0.0,
        flex_win_rate=s.flex_won / s.flex_races if s.flex_races else 0.0,
        cost=money_message(
            s.actual_nano_usd, s.standard_nano_usd, s.savings_nano_usd, s.commission_nano_usd
        ),
    )
    if s.day:
        year, month, day = (int(p) for p in s.day.split("-"))
        message.day.CopyFrom(date_pb2.Date(year=year, month=month, day=day))
    return message


def _time(stamp: timestamp_pb2.Timestamp, present: bool, field: str) -> dt.datetime | None:
    return request_time(stamp, field) if present else None


class UsageServicer(usage_pb2_grpc.UsageServiceServicer):
    def __init__(self, queries: UsageQueries) -> None:
        self._queries = queries

    async def ListUsageRecords(
        self, request: usage_pb2.ListUsageRecordsRequest, context: Any
    ) -> usage_pb2.ListUsageRecordsResponse:
        org = organization_id(request.parent, current_principal(), field="parent")
        start = _time(request.start_time, request.HasField("start_time"), "start_time")
        end = _time(request.end_time, request.HasField("end_time"), "end_time")
        filters = RecordFilter(
            organization_id=org,
            start_time=start,
            end_time=end,
            model=request.model or None,
            served_tier=SERVED_TIER_OF.get(request.served_tier),
            outcome=OUTCOME_OF.get(request.outcome),
        )
        size = page_size(request.page_size)
        arguments = {
            "org": org, "start": str(start), "end": str(end), "model": request.model,
            "tier": request.served_tier, "outcome": request.outcome,
        }  # fmt: skip
        cursor = decode_token(request.page_token, arguments)
        after = time_cursor(cursor)
        rows = await asyncio.to_thread(self._queries.page, filters, size + 1, after)
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = encode_token([rows[-1].create_time.isoformat(), rows[-1].request_id], arguments)
        return usage_pb2.ListUsageRecordsResponse(
            usage_records=[record_message(r) for r in rows], next_page_token=token
        )

    async def GetUsageRecord(
        self, request: usage_pb2.GetUsageRecordRequest, context: Any
    ) -> usage_pb2.UsageRecord:
        parent, _, request_id = request.name.rpartition("/usageRecords/")
        if not parent or not request_id:
            raise FlexError(
                "invalid_argument",
                "name must be `organizations/{organization}/usageRecords/{request_id}`.",
                field="name",
            )
        org = organization_id(parent, current_principal(), field="name")
        found = await asyncio.to_thread(self._queries.get, org, request_id)
        if found is None:
            raise FlexError("not_found", f"{request.name[:120]} does not exist.", field="name")
        return record_message(found)

    async def SummarizeUsage(
        self, request: usage_pb2.SummarizeUsageRequest, context: Any
    ) -> usage_pb2.SummarizeUsageResponse:
        org = organization_id(request.parent, current_principal(), field="parent")
        if not request.HasField("start_time") or not request.HasField("end_time"):
            raise FlexError(
                "invalid_argument",
                "start_time and end_time are required (RFC 3339, end exclusive), for example "
                "2026-11-01T00:00:00Z and 2026-12-01T00:00:00Z.",
                field="start_time" if not request.HasField("start_time") else "end_time",
            )
        start = request_time(request.start_time, "start_time")
        end = request_time(request.end_time, "end_time")
        if end <= start:
            raise FlexError(
                "invalid_argument", "end_time must be after start_time.", field="end_time"
            )
        grouping = _GROUPING.get(request.group_by)
        if grouping is None:
            raise FlexError(
                "invalid_argument", "group_by is not a known grouping.", field="group_by"
            )
        filters = RecordFilter(organization_id=org, start_time=start, end_time=end)
        groups = await asyncio.to_thread(
            self._queries.summarize, filters, by_model=grouping[0], by_day=grouping[1]
        )
        (total,) = await asyncio.to_thread(
            self._queries.summarize, filters, by_model=False, by_day=False
        )
        size = page_size(request.page_size, default=100)
        arguments = {"org": org, "start": str(start), "end": str(end), "g": request.group_by}
        cursor = decode_token(request.page_token, arguments)
        offset = offset_cursor(cursor)
        page = groups[offset : offset + size]
        token = encode_token([offset + size], arguments) if offset + size < len(groups) else ""
        return usage_pb2.SummarizeUsageResponse(
            summaries=[_summary_message(s) for s in page],
            next_page_token=token,
            total=_summary_message(total),
        )
