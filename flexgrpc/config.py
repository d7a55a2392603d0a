"""One settings object, read from the environment and overridden by command-line flags.

Nothing else in the package reads ``os.environ``: every component receives what it needs from a
``Settings`` instance, which keeps tests hermetic (they build ``Settings`` directly).
"""

from __future__ import annotations

import dataclasses
import math
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///flexgrpc.db"


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SystemExit(f"{name} must be an integer of at least {minimum}, got {raw!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero: bool = True) -> float:
    """A duration in seconds: a finite number, not negative (nor zero where ``zero`` is false,
    as for a timeout, where zero would fail every request)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    least = "0 or more" if zero else "above 0"
    refusal = f"{name} must be a finite number of seconds, {least}; got {raw!r}"
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(refusal) from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise SystemExit(refusal)
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be true or false, got {raw!r}")


def _floats(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise SystemExit(f"{name} must be comma-separated numbers, got {raw!r}") from None


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name) or default
    if raw not in choices:
        raise SystemExit(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _http_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SystemExit(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


def _workers(env: Mapping[str, str], name: str, default: int) -> int:
    """A number of worker processes, at least 1, or ``auto``: the cores this process may use."""
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw == "auto":
        return available_cores()
    return _int(env, name, default, minimum=1)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS says, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


#: How the REST shim reaches the servicers (both through the same interceptors).
REST_TRANSPORTS = ("in-process", "loopback")
#: ``plain``: every flex window is raced; ``learned``: hopeless ones go to standard at once.
FLEX_POLICIES = ("plain", "learned")
#: ``off``; ``otlp``: exported over OTLP/HTTP; ``discard``: spans made, then dropped.
TRACING_MODES = ("off", "otlp", "discard")
#: What the limiters do when Redis cannot be reached: let requests through, or refuse them.
ON_REDIS_ERROR = ("open", "closed")


def _tracing_default(env: Mapping[str, str]) -> str:
    """``otlp`` when an OTLP endpoint is configured (and the SDK not disabled), else ``off``."""
    if _bool(env, "OTEL_SDK_DISABLED", False):
        return "off"
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return "otlp" if any(env.get(name) for name in endpoints) else "off"


@dataclass(frozen=True)
class BillingSettings:
    """What billing is configured with (``flexgrpc.billing.assembly.build_billing``)."""

    #: Stripe secret key (``sk_live_…``/``sk_test_…``); without it nothing is charged: invoices
    #: stay open and the card methods answer ``unavailable``.
    stripe_api_key: str | None = field(default=None, repr=False)
    #: Stripe API base URL; ``None`` = Stripe itself (tests point it at localstripe).
    stripe_api_base: str | None = None
    #: The webhook endpoint's signing secret (``whsec_…``); without it webhooks are refused.
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_timeout_s: float = 30.0
    stripe_max_network_retries: int = 2
    #: Organization ids whose API keys may close periods and act on any organization's billing.
    operator_organizations: tuple[str, ...] = ()
    #: How long the 402 gate trusts an organization's standing (at most 5 s).
    gate_cache_ttl_s: float = 2.0
    #: Off by default: refuse billable flex to organizations without a card on file.
    require_card_for_flex: bool = False
    #: After a soft decline, retry after these many hours (counted from each failure).
    soft_decline_retry_hours: tuple[float, ...] = (24.0, 72.0, 168.0)
    #: A charge still "pending" after this long is presumed orphaned and reconciled.
    in_flight_timeout_s: float = 300.0
    #: Opt-in: run the close and the collector inside ``serve`` (safe on every replica).
    scheduler: bool = False
    scheduler_interval_s: float = 300.0

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> BillingSettings:
        d = cls()
        return cls(
            stripe_api_key=e.get("FLEXGRPC_STRIPE_API_KEY") or None,
            stripe_api_base=e.get("FLEXGRPC_STRIPE_API_BASE") or None,
            stripe_webhook_secret=e.get("FLEXGRPC_STRIPE_WEBHOOK_SECRET") or None,
            stripe_timeout_s=_seconds(e, "FLEXGRPC_STRIPE_TIMEOUT_S", d.stripe_timeout_s),
            stripe_max_network_retries=_int(
                e, "FLEXGRPC_STRIPE_MAX_NETWORK_RETRIES", d.stripe_max_network_retries
            ),
            operator_organizations=tuple(
                o.strip()
                for o in e.get("FLEXGRPC_BILLING_OPERATOR_ORGANIZATIONS", "").split(",")
                if o.strip()
            ),
            gate_cache_ttl_s=min(
                5.0, _seconds(e, "FLEXGRPC_BILLING_GATE_CACHE_TTL_S", d.gate_cache_ttl_s)
            ),
            require_card_for_flex=_bool(
                e, "FLEXGRPC_BILLING_REQUIRE_CARD_FOR_FLEX", d.require_card_for_flex
            ),
            soft_decline_retry_hours=_floats(
                e, "FLEXGRPC_BILLING_SOFT_DECLINE_RETRY_HOURS", d.soft_decline_retry_hours
            ),
            in_flight_timeout_s=_seconds(
                e, "FLEXGRPC_BILLING_IN_FLIGHT_TIMEOUT_S", d.in_flight_timeout_s
            ),
            scheduler=_bool(e, "FLEXGRPC_BILLING_SCHEDULER", d.scheduler),
            scheduler_interval_s=_seconds(
                e, "FLEXGRPC_BILLING_SCHEDULER_INTERVAL_S", d.scheduler_interval_s
            ),
        )


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Env names are ``FLEXGRPC_`` + the upper-case field name."""

    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    database_url: str = DEFAULT_DATABASE_URL
    #: urlsafe-base64 32-byte key that encrypts provider keys at rest (AES-256-GCM).
    encryption_key: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    log_format: str = "json"
    #: How long an authenticated API key is trusted without asking the database again.
    auth_cache_ttl_s: float = 1.0
    max_message_bytes: int = 1_000_000
    #: Longest a REST request body may take to arrive (a slow or stalled upload answers 408).
    http_body_timeout_s: float = 30.0
    #: Longest a REST request's headers may take to arrive; then the connection is closed.
    http_header_timeout_s: float = 10.0
    #: ``in-process`` hands REST requests to the servicers directly; ``loopback`` sends them
    #: over a gRPC channel to this server's own port (bench/rest_overhead.py compares them).
    rest_transport: str = "in-process"
    #: Prometheus metrics at GET /metrics on this address; off while the port is unset.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    #: ``learned`` skips flex races that recent races of the model show cannot start in time
    #: (flexgrpc.routing.flex_policy); ``plain`` always races.
    flex_policy: str = "plain"
    #: Server processes sharing the gRPC and REST ports (``flexgrpc.workers``); 1 serves in
    #: the ``serve`` process itself.
    workers: int = 1
    #: OpenTelemetry traces (flexgrpc.tracing): ``off``, ``otlp`` (exported to the standard
    #: ``OTEL_EXPORTER_OTLP_ENDPOINT``, the default when that is set) or ``discard`` (made and
    #: dropped, to measure the cost).
    tracing: str = "off"
    #: Upper bound on RPCs handled at once; more wait in gRPC's queue (flex races are long).
    max_concurrent_rpcs: int = 20_000
    shutdown_grace_s: float = 30.0
    keepalive_time_s: int = 30
    keepalive_timeout_s: int = 10
    #: Longest a new gRPC connection may take to send the HTTP/2 preface and settings; a
    #: connection that stays silent is closed then (grpc-core's own default is 120 s).
    grpc_handshake_timeout_s: float = 10.0
    #: How often the server proves the ledger can commit (health turns NOT_SERVING if not).
    ledger_probe_interval_s: float = 5.0
    #: The secret page tokens are signed with (flexgrpc.api.pagination); unset: one per process.
    page_token_secret: str | None = field(default=None, repr=False)
    #: Failed authentications allowed per client address per minute before rate limiting.
    auth_failures_per_minute: int = 30
    #: Redis (``redis://host:port/db``) that shares the organizations' rate limits and flex race
    #: slots across workers and replicas; unset: each process keeps its own, in memory.
    redis_url: str | None = None
    #: Prefix of every key the limiters write, so that several deployments can share a Redis.
    redis_key_prefix: str = "flexgrpc:"
    #: Longest a limiter waits for Redis before it counts as away (then ``limits_on_redis_error``).
    redis_timeout_s: float = 0.25
    #: ``open``: with Redis away, limits are not enforced; ``closed``: the rate limit answers
    #: ``unavailable`` (503) and every race counts as beyond its slots (``on_exceed`` applies).
    limits_on_redis_error: str = "open"
    #: A JSON price file over the shipped prices: its entries decide the tiers they list.
    price_catalog: str | None = None
    #: Opt-in: at start, fetch genai-prices' published price data once and price with it
    #: instead of the data bundled in the installed package (records keep the prices they used).
    price_refresh: bool = False
    #: Where that data is fetched from (genai-prices' own update URL by default).
    price_refresh_url: str = (
        "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/"
        "prices/new_data/v2/data.json"
    )
    #: Longest the start-up fetch may take; on failure the bundled data is used (and logged).
    price_refresh_timeout_s: float = 10.0
    #: Monthly close, Stripe and the 402 gate (``FLEXGRPC_STRIPE_*``, ``FLEXGRPC_BILLING_*``).
    billing: BillingSettings = field(default_factory=BillingSettings)
    #: Provider base URLs (a proxy, Azure, or the bundled simulator in demo mode and tests).
    openai_base_url: str = "https://api.openai.com/v1"
    gemini_base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    anthropic_base_url: str = "https://api.anthropic.com/v1"
    upstream_connect_timeout_s: float = 10.0
    #: Longest silence between two upstream events before the stream counts as failed.
    upstream_idle_timeout_s: float = 120.0
    #: Longest wait for a non-streamed upstream answer (it arrives whole, after generation);
    #: the OpenAI and Anthropic SDKs' own default is 10 minutes.
    upstream_answer_timeout_s: float = 600.0
    # --- dashboard (flexgrpc.dashboard) ---
    #: Whether people may create an account (and an organization) from the sign-up page.
    dashboard_sign_up: bool = True
    #: Where the Billing page loads Stripe.js from (tests point it at localstripe's stand-in).
    dashboard_stripe_js_url: str = "https://js.stripe.com/v3/"
    #: Stripe publishable key (pk_…) for Stripe Elements; without it cards cannot be added.
    dashboard_stripe_publishable_key: str | None = None
    #: How long a dashboard session lasts after sign-in.
    dashboard_session_ttl_s: float = 43_200.0
    #: Mark cookies ``Secure`` even on plain HTTP (TLS ends at a proxy); always so over TLS.
    dashboard_secure_cookies: bool = False
    #: Failed sign-ins allowed per minute for one account, and from one client address.
    dashboard_sign_in_failures_per_account: int = 5
    dashboard_sign_in_failures_per_address: int = 20
    #: The dashboard's address as people reach it (for sign-in links); default: the REST port.
    dashboard_public_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        d = cls()
        return cls(
            grpc_host=e.get("FLEXGRPC_GRPC_HOST", d.grpc_host),
            grpc_port=_int(e, "FLEXGRPC_GRPC_PORT", d.grpc_port),
            http_host=e.get("FLEXGRPC_HTTP_HOST", d.http_host),
            http_port=_int(e, "FLEXGRPC_HTTP_PORT", d.http_port),
            database_url=e.get("FLEXGRPC_DATABASE_URL", d.database_url),
            encryption_key=e.get("FLEXGRPC_ENCRYPTION_KEY") or None,
            log_level=e.get("FLEXGRPC_LOG_LEVEL", d.log_level),
            log_format=e.get("FLEXGRPC_LOG_FORMAT", d.log_format),
            auth_cache_ttl_s=_seconds(e, "FLEXGRPC_AUTH_CACHE_TTL_S", d.auth_cache_ttl_s),
            max_message_bytes=_int(e, "FLEXGRPC_MAX_MESSAGE_BYTES", d.max_message_bytes),
            http_body_timeout_s=_seconds(e, "FLEXGRPC_HTTP_BODY_TIMEOUT_S", d.http_body_timeout_s),
            http_header_timeout_s=_seconds(
                e, "FLEXGRPC_HTTP_HEADER_TIMEOUT_S", d.http_header_timeout_s
            ),
            rest_transport=_choice(e, "FLEXGRPC_REST_TRANSPORT", d.rest_transport, REST_TRANSPORTS),
            flex_policy=_choice(e, "FLEXGRPC_FLEX_POLICY", d.flex_policy, FLEX_POLICIES),
            tracing=_choice(e, "FLEXGRPC_TRACING", _tracing_default(e), TRACING_MODES),
            metrics_host=e.get("FLEXGRPC_METRICS_HOST", d.metrics_host),
            metrics_port=(
                _int(e, "FLEXGRPC_METRICS_PORT", 0) if e.get("FLEXGRPC_METRICS_PORT") else None
            ),
            workers=_workers(e, "FLEXGRPC_WORKERS", d.workers),
            max_concurrent_rpcs=_int(e, "FLEXGRPC_MAX_CONCURRENT_RPCS", d.max_concurrent_rpcs),
            shutdown_grace_s=_seconds(e, "FLEXGRPC_SHUTDOWN_GRACE_S", d.shutdown_grace_s),
            keepalive_time_s=_int(e, "FLEXGRPC_KEEPALIVE_TIME_S", d.keepalive_time_s, minimum=1),
            keepalive_timeout_s=_int(
                e, "FLEXGRPC_KEEPALIVE_TIMEOUT_S", d.keepalive_timeout_s, minimum=1
            ),
            grpc_handshake_timeout_s=_seconds(
                e, "FLEXGRPC_GRPC_HANDSHAKE_TIMEOUT_S", d.grpc_handshake_timeout_s, zero=False
            ),
            ledger_probe_interval_s=_seconds(
                e, "FLEXGRPC_LEDGER_PROBE_INTERVAL_S", d.ledger_probe_interval_s, zero=False
            ),
            page_token_secret=e.get("FLEXGRPC_PAGE_TOKEN_SECRET") or None,
            auth_failures_per_minute=_int(
                e, "FLEXGRPC_AUTH_FAILURES_PER_MINUTE", d.auth_failures_per_minute
            ),
            redis_url=e.get("FLEXGRPC_REDIS_URL") or None,
            redis_key_prefix=e.get("FLEXGRPC_REDIS_KEY_PREFIX") or d.redis_key_prefix,
            redis_timeout_s=_seconds(e, "FLEXGRPC_REDIS_TIMEOUT_S", d.redis_timeout_s, zero=False),
            limits_on_redis_error=_choice(
                e, "FLEXGRPC_LIMITS_ON_REDIS_ERROR", d.limits_on_redis_error, ON_REDIS_ERROR
            ),
            price_catalog=e.get("FLEXGRPC_PRICE_CATALOG") or None,
            price_refresh=_bool(e, "FLEXGRPC_PRICE_REFRESH", d.price_refresh),
            price_refresh_url=e.get("FLEXGRPC_PRICE_REFRESH_URL") or d.price_refresh_url,
            price_refresh_timeout_s=_seconds(
                e, "FLEXGRPC_PRICE_REFRESH_TIMEOUT_S", d.price_refresh_timeout_s, zero=False
            ),
            billing=BillingSettings.from_env(e),
            openai_base_url=e.get("FLEXGRPC_OPENAI_BASE_URL", d.openai_base_url),
            gemini_base_url=e.get("FLEXGRPC_GEMINI_BASE_URL", d.gemini_base_url),
            anthropic_base_url=e.get("FLEXGRPC_ANTHROPIC_BASE_URL", d.anthropic_base_url),
            upstream_connect_timeout_s=_seconds(
                e, "FLEXGRPC_UPSTREAM_CONNECT_TIMEOUT_S", d.upstream_connect_timeout_s, zero=False
            ),
            upstream_idle_timeout_s=_seconds(
                e, "FLEXGRPC_UPSTREAM_IDLE_TIMEOUT_S", d.upstream_idle_timeout_s, zero=False
            ),
            upstream_answer_timeout_s=_seconds(
                e, "FLEXGRPC_UPSTREAM_ANSWER_TIMEOUT_S", d.upstream_answer_timeout_s, zero=False
            ),
            dashboard_sign_up=_bool(e, "FLEXGRPC_DASHBOARD_SIGN_UP", d.dashboard_sign_up),
            dashboard_stripe_js_url=_http_url(
                e, "FLEXGRPC_DASHBOARD_STRIPE_JS_URL", d.dashboard_stripe_js_url
            ),
            dashboard_stripe_publishable_key=(
                e.get("FLEXGRPC_DASHBOARD_STRIPE_PUBLISHABLE_KEY") or None
            ),
            dashboard_session_ttl_s=_seconds(
                e, "FLEXGRPC_DASHBOARD_SESSION_TTL_S", d.dashboard_session_ttl_s, zero=False
            ),
            dashboard_secure_cookies=_bool(
                e, "FLEXGRPC_DASHBOARD_SECURE_COOKIES", d.dashboard_secure_cookies
            ),
            dashboard_sign_in_failures_per_account=_int(
                e,
                "FLEXGRPC_DASHBOARD_SIGN_IN_FAILURES_PER_ACCOUNT",
                d.dashboard_sign_in_failures_per_account,
                minimum=1,
            ),
            dashboard_sign_in_failures_per_address=_int(
                e,
                "FLEXGRPC_DASHBOARD_SIGN_IN_FAILURES_PER_ADDRESS",
                d.dashboard_sign_in_failures_per_address,
                minimum=1,
            ),
            dashboard_public_url=(
                _http_url(e, "FLEXGRPC_DASHBOARD_PUBLIC_URL", "")
                if e.get("FLEXGRPC_DASHBOARD_PUBLIC_URL")
                else None
            ),
        )

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied; flags with value ``None`` are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
