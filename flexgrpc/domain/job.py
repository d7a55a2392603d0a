"""A validated request: the ``RouteJob`` and its controls.

Built once from the caller's body (and the typed controls of gRPC callers) by
``flexgrpc.routing.request``; read by the race and the provider adapters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from flexgrpc.domain.surfaces import Provider, ProviderRoute, Surface
from flexgrpc.domain.tiers import StartWithin, StartWithinSource

#: The router's own body fields (SPEC §2): removed before a body goes upstream or is translated.
ROUTER_FIELDS: Final = frozenset({"start_within", "provider", "retry", "include_cost"})


class Backoff(enum.StrEnum):
    EXPONENTIAL = "exponential"
    LINEAR = "linear"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of the settled tier (1..5), before the first byte reached the caller."""

    count: int
    backoff: Backoff = Backoff.EXPONENTIAL
    jitter: bool = True


@dataclass(frozen=True, slots=True)
class RouteJob:
    """One validated request.

    ``body`` is the caller's JSON object with the router's own fields (``ROUTER_FIELDS``)
    removed and nothing else changed; adapters set ``service_tier`` (and ``stream``) on their
    copy when they build the upstream request.
    """

    request_id: str
    surface: Surface
    model: str
    provider: Provider
    routes: tuple[ProviderRoute, ...]
    start_within: StartWithin
    stream: bool
    body: dict[str, Any]
    retry: RetryPolicy | None = None
    include_cost: bool = False
    #: ``time.monotonic()`` when the router received the request: the race window starts here.
    received_at: float = 0.0
    #: Where ``start_within`` came from (body or typed field, header, the key's default).
    start_within_source: StartWithinSource = StartWithinSource.BODY
