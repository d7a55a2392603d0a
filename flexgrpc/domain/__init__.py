"""The shared vocabulary of flexgrpc: every layer may import it, and it imports nothing of the
project's own.

- ``surfaces``: caller surfaces, providers, provider routes and which route serves whom;
- ``tiers``: what a caller asks for (``StartWithin``), what the router asks a provider for
  (``UpstreamTier``), what the provider says it served (``ServedTier``), and the one table of
  each provider's own ``service_tier`` strings;
- ``job``: a validated request (``RouteJob``) and its controls;
- ``record``: how a request ended (``RaceOutcome``), its token counts, its cost, and the one
  immutable ``RequestRecord`` every request leaves.
"""

from flexgrpc.domain.job import ROUTER_FIELDS, Backoff, RetryPolicy, RouteJob
from flexgrpc.domain.record import (
    NO_TOKENS,
    UNPRICED,
    CommissionReason,
    Cost,
    FallbackReason,
    RaceOutcome,
    RequestRecord,
    TokenCounts,
)
from flexgrpc.domain.surfaces import (
    DIRECT_ROUTES,
    PLANNED_ROUTES,
    ROUTE_PROVIDERS,
    Provider,
    ProviderRoute,
    Surface,
)
from flexgrpc.domain.tiers import (
    FixedTier,
    ServedTier,
    StartWithin,
    UpstreamTier,
    served_tier,
    service_tier_value,
    tier_exists,
    upstream_tier_for,
)

__all__ = [
    "DIRECT_ROUTES",
    "NO_TOKENS",
    "PLANNED_ROUTES",
    "ROUTER_FIELDS",
    "ROUTE_PROVIDERS",
    "UNPRICED",
    "Backoff",
    "CommissionReason",
    "Cost",
    "FallbackReason",
    "FixedTier",
    "Provider",
    "ProviderRoute",
    "RaceOutcome",
    "RequestRecord",
    "RetryPolicy",
    "RouteJob",
    "ServedTier",
    "StartWithin",
    "Surface",
    "TokenCounts",
    "UpstreamTier",
    "served_tier",
    "service_tier_value",
    "tier_exists",
    "upstream_tier_for",
]
