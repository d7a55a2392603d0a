"""The one record every request produces, whatever happened (SPEC §3, last line; §5).

The servicer fills a ``RoutingOutcome`` as the request goes and hands it to an ``OutcomeSink``
exactly once (the router stores a completed answer's record before its end is released; any
other ending in a ``finally``). The server's sink makes it durable in the ledger, then logs it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from flexgrpc.domain import RaceOutcome, RouteJob, ServedTier


@dataclass
class TokenCounts:
    """Normalised usage: cached input and reasoning are parts of input and output."""

    uncached_input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0


@dataclass
class RoutingOutcome:
    request_id: str
    organization_id: str
    api_key_id: str
    surface: str
    create_time: dt.datetime
    model: str = ""
    provider: str = ""
    route: str = ""
    #: ``default`` / ``priority`` / ``auto``, or the flex window as ``flex:<ms>``.
    requested: str = ""
    served_tier: ServedTier = ServedTier.UNKNOWN
    provider_service_tier: str = ""
    outcome: RaceOutcome = RaceOutcome.FAILED
    flex_attempts: int = 0
    time_to_start_ms: int | None = None
    #: For a race that fell back: when, after receipt, the standard tier was dispatched.
    fallback_after_ms: float | None = None
    usage: dict[str, Any] | None = None
    tokens: TokenCounts = field(default_factory=TokenCounts)
    #: Money in nano-USD; ``priced`` is false when the model has no catalog price.
    priced: bool = False
    actual_nano_usd: int = 0
    standard_nano_usd: int = 0
    savings_nano_usd: int = 0
    commission_nano_usd: int = 0
    #: The catalog prices used, kept with the record so history never changes with prices.
    prices: dict[str, Any] = field(default_factory=dict)
    error_code: str = ""
    complete_time: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe_job(self, job: RouteJob) -> None:
        self.model, self.provider, self.route = job.model, job.provider.value, job.routes[0].value
        within = job.start_within
        self.requested = within.tier.value if within.tier else f"flex:{within.window_ms}"


class OutcomeSink(Protocol):
    async def record(self, outcome: RoutingOutcome) -> None: ...


class OutcomeObserver(Protocol):
    """Told of each outcome after its answer (metrics, the access log). Synchronous: it runs
    in a plain callback, off the answer's path, and must not block."""

    def observe(self, outcome: RoutingOutcome) -> None: ...


class OutcomeObservers:
    """Tells several observers, in order."""

    def __init__(self, *observers: OutcomeObserver) -> None:
        self._observers = observers

    def observe(self, outcome: RoutingOutcome) -> None:
        for observer in self._observers:
            observer.observe(outcome)


class NoOutcomeSink:
    """Keeps nothing (for measuring what the ledger costs; the product always records)."""

    async def record(self, outcome: RoutingOutcome) -> None:
        pass


class OutcomeLog:
    """Writes each outcome as one structured log line (no secrets are in an outcome)."""

    def __init__(self) -> None:
        self._log = logging.getLogger("flexgrpc.outcome")

    def observe(self, outcome: RoutingOutcome) -> None:
        if not self._log.isEnabledFor(logging.INFO):
            return
        # A shallow view, not ``dataclasses.asdict``: the line is formatted before this returns,
        # and asdict's deep copy was a tenth of the router's CPU per request.
        view = {name: getattr(outcome, name) for name in _OUTCOME_FIELDS}
        view["tokens"] = {name: getattr(outcome.tokens, name) for name in _TOKEN_FIELDS}
        view["create_time"] = outcome.create_time.isoformat()
        view["complete_time"] = outcome.complete_time.isoformat() if outcome.complete_time else None
        self._log.info("request routed", extra={"outcome": view})


_OUTCOME_FIELDS = tuple(f.name for f in fields(RoutingOutcome))
_TOKEN_FIELDS = tuple(f.name for f in fields(TokenCounts))
