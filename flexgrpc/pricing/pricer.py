"""The router's view of pricing: a request's job, served tier and token counts in, its ``Cost``
out (a pure function of those and the catalog's prices on the request's day)."""

from __future__ import annotations

import datetime as dt

from flexgrpc.domain import Cost, Provider, RouteJob, ServedTier, TokenCounts
from flexgrpc.pricing.catalog import PriceCatalog
from flexgrpc.pricing.cost import price_request


class CatalogPricer:
    """Prices requests from ``catalog``."""

    def __init__(self, catalog: PriceCatalog) -> None:
        self._catalog = catalog

    def __call__(self, job: RouteJob, served: ServedTier, tokens: TokenCounts, on: dt.date) -> Cost:
        return price_request(
            self._catalog,
            job.model,
            served.value,
            tokens,
            job.start_within.is_race,
            job.provider,
            on=on,
        )


def is_billable_flex(catalog: PriceCatalog, job: RouteJob) -> bool:
    """A request that could earn a commission: a flex window on a priced, non-Anthropic model
    (SPEC §6: what the past-due gate stops; everything else keeps working)."""
    if not job.start_within.is_race or job.provider is Provider.ANTHROPIC:
        return False
    today = dt.datetime.now(dt.UTC).date()
    return catalog.lookup(job.provider, job.model, on=today) is not None
