"""Prices a request's routing outcome: normalised usage, catalog prices, money in nano-USD."""

from __future__ import annotations

import datetime as dt

from flexgrpc.domain import Provider, RouteJob, Surface
from flexgrpc.pricing.catalog import PriceCatalog
from flexgrpc.pricing.cost import price_request
from flexgrpc.pricing.usage import normalise_usage, usage_format_for
from flexgrpc.providers.base import Adapter
from flexgrpc.routing.outcome import RoutingOutcome, TokenCounts


class OutcomePricer:
    """The router's pricer: fills an outcome's tokens, costs, savings, commission and prices."""

    def __init__(self, catalog: PriceCatalog) -> None:
        self._catalog = catalog

    def __call__(self, outcome: RoutingOutcome, adapter: Adapter) -> None:
        provider = Provider(outcome.provider)
        usage = normalise_usage(
            usage_format_for(provider, Surface(outcome.surface)), outcome.usage or {}
        )
        outcome.tokens = TokenCounts(
            uncached_input=usage.uncached_input,
            cached_input=usage.cached_input,
            cache_write=usage.cache_write,
            output=usage.output,
            reasoning=usage.reasoning,
        )
        pricing = price_request(
            self._catalog,
            outcome.model,
            outcome.served_tier.value,
            usage,
            outcome.requested.startswith("flex:"),
            provider,
            on=outcome.create_time.date(),
        )
        outcome.priced = pricing.priced
        outcome.actual_nano_usd = int(pricing.actual_nano_usd or 0)
        outcome.standard_nano_usd = int(pricing.standard_nano_usd or 0)
        outcome.savings_nano_usd = int(pricing.savings_nano_usd)
        outcome.commission_nano_usd = int(pricing.commission_nano_usd)
        outcome.prices = {**pricing.prices, "commission_reason": pricing.reason.value}


def is_billable_flex(catalog: PriceCatalog, job: RouteJob) -> bool:
    """A request that could earn a commission: a flex window on a priced, non-Anthropic model
    (SPEC §6: what the past-due gate stops; everything else keeps working)."""
    if not job.start_within.is_race or job.provider is Provider.ANTHROPIC:
        return False
    today = dt.datetime.now(dt.UTC).date()
    return catalog.lookup(job.provider, job.model, on=today) is not None
