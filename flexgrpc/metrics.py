"""Prometheus metrics: what the router did, what it cost and saved, and how the ledger keeps up.

Every request leaves one ``RequestRecord`` (flexgrpc.domain), so its record is where requests
are counted: by surface, provider, model, mode (the requested tier, or
``race``), race outcome, served tier and error code; with its duration, time to start, flex
attempts, tokens and money. The flex race's own promise is measured too: how long after the
window's end the standard tier was dispatched (SPEC §3.6), and how many races the learned
policy skipped. The ledger writer reports each group commit.

Labels stay bounded: a model is labelled with its price-catalog family (a dated snapshot counts
as its base model) or ``other`` (a caller could otherwise mint a series per made-up model
name), and codes come from the error table.
Money is counted in nano-USD, as the ledger stores it; a Prometheus counter is a float64, exact
to 2^53 nano-USD (about $9 million) per series, after which it rounds.

Served on ``--metrics-port`` (off unless set), at ``GET /metrics``, from a registry of the
server's own. ``flexgrpc_requests_in_flight`` is read at each scrape, not counted per request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from flexgrpc.domain import FallbackReason, RaceOutcome, RequestRecord

#: Seconds, from sub-millisecond answers to ten-minute flex windows.
_DURATION_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
)  # fmt: skip
#: Seconds after the window's end; the spec's bound is 0.05.
_LATENESS_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
_COMMIT_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

_REQUEST_LABELS: Final = ("surface", "provider", "model", "mode", "outcome", "served_tier", "code")
_MONEY_LABELS: Final = ("provider", "model")


class Metrics:
    """The server's metrics, in a registry of its own (several servers may share a process)."""

    def __init__(self, model_label: Callable[[str, str], str]) -> None:
        """``model_label(provider, model)``: the bounded label a model is counted under."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.model_label = functools.lru_cache(maxsize=4096)(model_label)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.requests = Counter(
            "flexgrpc_requests", "Requests routed, by how they ended.", _REQUEST_LABELS, registry=r
        )
        self.duration = Histogram(
            "flexgrpc_request_duration_seconds",
            "From receipt to the end of the answer (or of the failure).",
            ("surface", "outcome"),
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.time_to_start = Histogram(
            "flexgrpc_time_to_start_seconds",
            "From receipt to the first output of the answer that was served (for a non-streamed "
            "fixed-tier answer, asked whole: to the whole answer).",
            ("provider", "outcome"),
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.fallback_lateness = Histogram(
            "flexgrpc_fallback_after_window_seconds",
            "For a race that fell back: standard dispatch minus the window's end (SPEC: p99 <= "
            "0.05 s).",
            ("provider",),
            buckets=_LATENESS_BUCKETS,
            registry=r,
        )
        self.flex_attempts = Counter(
            "flexgrpc_flex_attempts", "Flex requests sent upstream.", ("provider",), registry=r
        )
        self.flex_skipped = Counter(
            "flexgrpc_flex_races_skipped",
            "Windows sent straight to standard: by the learned flex policy (reason=flex_policy) "
            "or because the organization's flex race slots were taken (flex_race_slots).",
            ("provider", "model", "reason"),
            registry=r,
        )
        self.limit_events = Counter(
            "flexgrpc_limit_events",
            "Organization limits at work: event=refused (over the limit), or "
            "redis_error_open / redis_error_closed (Redis unreachable, and what was done).",
            ("limit", "event"),
            registry=r,
        )
        self.tokens = Counter(
            "flexgrpc_tokens",
            "Tokens of answered requests, by kind (reasoning tokens are also counted in output).",
            ("provider", "model", "kind"),
            registry=r,
        )
        self.cost = Counter(
            "flexgrpc_cost_nano_usd",
            "Priced cost in nano-USD: kind=actual (the served tier) or standard (the same usage "
            "at the standard tier).",
            (*_MONEY_LABELS, "kind"),
            registry=r,
        )
        self.savings = Counter(
            "flexgrpc_savings_nano_usd", "Savings of flex answers, nano-USD.", _MONEY_LABELS,
            registry=r,
        )  # fmt: skip
        self.commission = Counter(
            "flexgrpc_commission_nano_usd", "Commission earned (20% of savings), nano-USD.",
            _MONEY_LABELS, registry=r,
        )  # fmt: skip
        self.ledger_commit = Histogram(
            "flexgrpc_ledger_commit_seconds",
            "Durable commits of usage records (one transaction per group of records).",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.ledger_records = Counter(
            "flexgrpc_ledger_records", "Usage records committed.", registry=r
        )
        self.ledger_failures = Counter(
            "flexgrpc_ledger_commit_failures", "Group commits that failed.", registry=r
        )
        self.ledger_writable = Gauge(
            "flexgrpc_ledger_writable",
            "1 while the ledger can commit records (its probe write succeeds), else 0; health "
            "is NOT_SERVING while it is 0.",
            registry=r,
        )
        self.ledger_writable.set(1)
        self.calls_over = Counter(
            "flexgrpc_calls_ended_before_answer",
            "gRPC calls whose answer or status could not be sent because the call had already "
            "ended (deadline passed, caller gone).",
            registry=r,
        )
        self.malformed_requests = Counter(
            "flexgrpc_malformed_requests",
            "gRPC calls refused because their request message did not parse.",
            ("method",),
            registry=r,
        )

    def labelled(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: prometheus_client checks and locks on every
        ``labels`` call, a few per request. Label values here come from small fixed sets
        (model families, not raw model names), so the cache stays small."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def watch_in_flight(self, count: Callable[[], float]) -> None:
        """Report ``count()`` (requests being routed) as a gauge, read at each scrape."""
        Gauge(
            "flexgrpc_requests_in_flight",
            "Requests being routed right now.",
            registry=self.registry,
        ).set_function(count)

    def observe_limit(self, limit: str, event: str) -> None:
        """A limiter's report: a refusal, or a Redis failure and what it did about it."""
        self.labelled(self.limit_events, limit, event).inc()

    def observe_commit(self, seconds: float, records: int, ok: bool) -> None:
        """The record writer's report of one group commit."""
        if ok:
            self.ledger_commit.observe(seconds)
            self.ledger_records.inc(records)
        else:
            self.ledger_failures.inc()

    def count_call_over(self) -> None:
        """An answer or status grpc-core could not send: the call had already ended."""
        self.calls_over.inc()

    def count_malformed(self, method: str) -> None:
        """A call whose request did not parse (``method`` is one the server serves)."""
        self.labelled(self.malformed_requests, method).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The current metrics in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RecordMetrics:
    """Counts each request's record (a ``RecordObserver``)."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def observe(self, record: RequestRecord) -> None:
        m = self._m
        provider = record.provider.value if record.provider is not None else "unknown"
        model = m.model_label(provider, record.model)
        requested = record.requested
        kind = record.outcome.value
        if requested is None:
            mode = "unknown"
        else:
            mode = "race" if requested.tier is None else requested.tier.value
        m.labelled(
            m.requests,
            record.surface.value,
            provider,
            model,
            mode,
            kind,
            record.served_tier.value,
            record.error_code or "ok",
        ).inc()
        elapsed = (record.complete_time - record.create_time).total_seconds()
        m.labelled(m.duration, record.surface.value, kind).observe(max(0.0, elapsed))
        if record.time_to_start_ms is not None:
            m.labelled(m.time_to_start, provider, kind).observe(record.time_to_start_ms / 1000)
        if record.flex_attempts:
            m.labelled(m.flex_attempts, provider).inc(record.flex_attempts)
        window_ms = requested.window_ms if requested is not None else None
        fell_back = record.outcome is RaceOutcome.FELL_BACK
        if window_ms is not None and fell_back and record.fallback_after_ms is not None:
            if record.flex_attempts == 0:
                reason = record.fallback_reason or FallbackReason.FLEX_POLICY
                m.labelled(m.flex_skipped, provider, model, reason.value).inc()
            else:
                late_s = (record.fallback_after_ms - window_ms) / 1000
                m.labelled(m.fallback_lateness, provider).observe(max(0.0, late_s))
        self._money(record, provider, model)

    def _money(self, record: RequestRecord, provider: str, model: str) -> None:
        m = self._m
        tokens, cost = record.tokens, record.cost
        for kind, count in (
            ("uncached_input", tokens.uncached_input),
            ("cached_input", tokens.cached_input),
            ("cache_write", tokens.cache_write),
            ("output", tokens.output),
            ("reasoning", tokens.reasoning),
        ):
            if count:
                m.labelled(m.tokens, provider, model, kind).inc(count)
        if cost.actual_nano_usd is None:
            return
        labels: Any = (provider, model)
        m.labelled(m.cost, *labels, "actual").inc(cost.actual_nano_usd)
        m.labelled(m.cost, *labels, "standard").inc(cost.standard_nano_usd or 0)
        if cost.savings_nano_usd:
            m.labelled(m.savings, *labels).inc(cost.savings_nano_usd)
        if cost.commission_nano_usd:
            m.labelled(m.commission, *labels).inc(cost.commission_nano_usd)


def metrics_app(metrics: Metrics) -> Callable[..., Any]:
    """An ASGI app answering ``GET /metrics`` (and ``HEAD``); 404 or 405 for anything else."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics":
            status, body, kind = 404, b"not found: metrics are at /metrics\n", "text/plain"
        elif scope["method"] not in ("GET", "HEAD"):
            status, body, kind = 405, b"use GET /metrics\n", "text/plain"
        else:
            body, kind = metrics.exposition()
            status = 200
        headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    return app
