"""The outcome sink that makes each request's record durable in the ledger."""

from __future__ import annotations

import datetime as dt

from flexgrpc.ledger.records import UsageRow
from flexgrpc.ledger.writer import RecordWriter
from flexgrpc.routing.outcome import RoutingOutcome


def usage_row(outcome: RoutingOutcome) -> UsageRow:
    tokens = outcome.tokens
    return UsageRow(
        request_id=outcome.request_id,
        organization_id=outcome.organization_id,
        api_key_id=outcome.api_key_id,
        surface=outcome.surface,
        model=outcome.model,
        provider=outcome.provider,
        route=outcome.route,
        requested=outcome.requested,
        served_tier=outcome.served_tier.value,
        provider_service_tier=outcome.provider_service_tier,
        outcome=outcome.outcome.value,
        flex_attempts=outcome.flex_attempts,
        time_to_start_ms=outcome.time_to_start_ms,
        fallback_after_ms=outcome.fallback_after_ms,
        uncached_input_tokens=tokens.uncached_input,
        cached_input_tokens=tokens.cached_input,
        cache_write_tokens=tokens.cache_write,
        output_tokens=tokens.output,
        reasoning_tokens=tokens.reasoning,
        priced=outcome.priced,
        actual_nano_usd=outcome.actual_nano_usd,
        standard_nano_usd=outcome.standard_nano_usd,
        savings_nano_usd=outcome.savings_nano_usd,
        commission_nano_usd=outcome.commission_nano_usd,
        prices=outcome.prices,
        error_code=outcome.error_code,
        create_time=outcome.create_time,
        complete_time=outcome.complete_time or dt.datetime.now(dt.UTC),
    )


class LedgerOutcomeSink:
    def __init__(self, writer: RecordWriter) -> None:
        self._writer = writer

    async def record(self, outcome: RoutingOutcome) -> None:
        await self._writer.record(usage_row(outcome))
