"""Where each request's ``RequestRecord`` goes: one sink that makes it durable before the end of
the answer (the ledger), and observers told of it afterwards, off the answer's path (metrics,
the access log)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from flexgrpc.domain import RequestRecord


class RecordSink(Protocol):
    async def record(self, record: RequestRecord) -> None:
        """Store ``record``; return once it is durable (raise if it could not be stored)."""
        ...


class RecordObserver(Protocol):
    """Told of each record after its answer. Synchronous: it runs in a plain callback, off the
    answer's path, and must not block."""

    def observe(self, record: RequestRecord) -> None: ...


class RecordObservers:
    """Tells several observers, in order."""

    def __init__(self, *observers: RecordObserver) -> None:
        self._observers = observers

    def observe(self, record: RequestRecord) -> None:
        for observer in self._observers:
            observer.observe(record)


class NoRecordSink:
    """Keeps nothing (for measuring what the ledger costs; the product always records)."""

    async def record(self, record: RequestRecord) -> None:
        pass


class RecordLog:
    """Writes each record as one structured ``request routed`` log line (a record holds no
    secrets)."""

    def __init__(self) -> None:
        self._log = logging.getLogger("flexgrpc.outcome")

    def observe(self, record: RequestRecord) -> None:
        if self._log.isEnabledFor(logging.INFO):
            self._log.info("request routed", extra={"outcome": log_view(record)})


def log_view(record: RequestRecord) -> dict[str, Any]:
    """The record as plain JSON values, field by field (a shallow view: ``dataclasses.asdict``'s
    deep copy was a tenth of the router's CPU per request)."""
    requested = record.requested
    tokens, cost = record.tokens, record.cost
    return {
        "request_id": record.request_id,
        "organization_id": record.organization_id,
        "api_key_id": record.api_key_id,
        "surface": record.surface.value,
        "model": record.model,
        "provider": record.provider.value if record.provider else "",
        "route": record.route.value if record.route else "",
        "start_within": (
            None
            if requested is None
            else {"tier": requested.tier.value}
            if requested.tier is not None
            else {"flex_window_ms": requested.window_ms}
        ),
        "served_tier": record.served_tier.value,
        "provider_service_tier": record.provider_service_tier,
        "outcome": record.outcome.value,
        "flex_attempts": record.flex_attempts,
        "time_to_start_ms": record.time_to_start_ms,
        "fallback_after_ms": record.fallback_after_ms,
        "fallback_reason": record.fallback_reason.value if record.fallback_reason else None,
        "tokens": {
            "uncached_input": tokens.uncached_input,
            "cached_input": tokens.cached_input,
            "cache_write": tokens.cache_write,
            "output": tokens.output,
            "reasoning": tokens.reasoning,
        },
        "priced": cost.priced,
        "actual_nano_usd": cost.actual_nano_usd,
        "standard_nano_usd": cost.standard_nano_usd,
        "savings_nano_usd": cost.savings_nano_usd,
        "commission_nano_usd": cost.commission_nano_usd,
        "commission_reason": cost.reason.value,
        "error_code": record.error_code,
        "create_time": record.create_time.isoformat(),
        "complete_time": record.complete_time.isoformat(),
    }
