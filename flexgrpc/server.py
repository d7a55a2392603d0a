"""Assembles the server: gRPC services, interceptors, health, reflection, graceful shutdown.

One ``FlexServer`` is one process's server. Several of them (``flexgrpc.workers``) share the
gRPC and REST ports with ``SO_REUSEPORT``; each is then a *worker*: its supervisor has applied
the migrations and announces the ports, and the worker stops when told or when the supervisor
is gone.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import hmac
import logging
import pathlib
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from typing import cast

import grpc
from flexinference.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    billing_pb2,
    billing_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    route_pb2,
    route_pb2_grpc,
    usage_pb2,
    usage_pb2_grpc,
)
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.exc import DBAPIError

from flexgrpc import tracing
from flexgrpc.accounts.crypto import ProviderKeyCipher
from flexgrpc.accounts.limiters import build_limiters
from flexgrpc.accounts.provider_keys import ProviderKeyCache
from flexgrpc.accounts.store import AccountStore
from flexgrpc.api.accounts import AccountServicer
from flexgrpc.api.auth import Authenticator
from flexgrpc.api.billing import WEBHOOK_METHOD, BillingServicer
from flexgrpc.api.health import HealthServicer
from flexgrpc.api.in_process import HandlerRegistry, InProcessChannel
from flexgrpc.api.interceptors import (
    AuthInterceptor,
    CallOverFilter,
    ErrorInterceptor,
    TracingInterceptor,
)
from flexgrpc.api.models import ModelServicer
from flexgrpc.api.pagination import set_page_token_secret
from flexgrpc.api.route import RouteServicer
from flexgrpc.api.usage import UsageServicer
from flexgrpc.billing.assembly import build_billing
from flexgrpc.billing.requests import RequestLog
from flexgrpc.config import Settings
from flexgrpc.dashboard import PREFIX as DASHBOARD_PREFIX
from flexgrpc.dashboard import Dashboard
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.embedded_http import HttpListener
from flexgrpc.ledger.queries import UsageQueries
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.ledger.watch import LedgerWatch, failure_reason
from flexgrpc.ledger.writer import RecordWriter
from flexgrpc.metrics import Metrics, RecordMetrics, metrics_app
from flexgrpc.pricing.catalog import CatalogError, PriceCatalog
from flexgrpc.pricing.pricer import CatalogPricer, is_billable_flex
from flexgrpc.pricing.refresh import fetch_genai_prices
from flexgrpc.providers.registry import default_adapters, route_base_urls
from flexgrpc.providers.upstream import Timeouts, UpstreamClient
from flexgrpc.rest import RestShim, loopback_target
from flexgrpc.routing.counting import TokenCounter
from flexgrpc.routing.flex_policy import LearnedFlexPolicy
from flexgrpc.routing.race import FlexRace
from flexgrpc.routing.recording import RecordLog, RecordObserver, RecordObservers, RecordSink
from flexgrpc.routing.router import InFlight, Router

log = logging.getLogger("flexgrpc.server")
#: grpc.aio's own logger (grpc._cython.cygrpc), where it reports exceptions of servicer methods.
_GRPC_LOG = logging.getLogger("grpc._cython.cygrpc")


def load_catalog(settings: Settings) -> PriceCatalog:
    """The operator's file over the shipped overlay over genai-prices (refreshed at start when
    the operator allows it); refuse to start if invalid."""
    genai_prices = (
        fetch_genai_prices(settings.price_refresh_url, settings.price_refresh_timeout_s)
        if settings.price_refresh
        else None
    )
    override = settings.price_catalog
    try:
        return PriceCatalog.load(
            pathlib.Path(override) if override else None, genai_prices=genai_prices
        )
    except CatalogError as error:
        raise SystemExit(f"flexgrpc: the price catalog is invalid: {error}") from None


#: Methods that authenticate by other means than an API key.
PUBLIC_METHODS = frozenset({WEBHOOK_METHOD})

_SERVICES = {
    "AccountService": accounts_pb2.DESCRIPTOR.services_by_name["AccountService"],
    "RouteService": route_pb2.DESCRIPTOR.services_by_name["RouteService"],
    "UsageService": usage_pb2.DESCRIPTOR.services_by_name["UsageService"],
    "BillingService": billing_pb2.DESCRIPTOR.services_by_name["BillingService"],
    "ModelService": models_pb2.DESCRIPTOR.services_by_name["ModelService"],
}
SERVICE_NAMES = tuple(d.full_name for d in _SERVICES.values())
#: Services a signed-in dashboard session may call (it never routes requests).
_SESSION_SERVICES = tuple(
    f"/{_SERVICES[name].full_name}/"
    for name in ("AccountService", "UsageService", "BillingService")
)


def session_may_call(method: str) -> bool:
    return method.startswith(_SESSION_SERVICES)


#: Above the 1,000,000-byte body limit, so an oversized body reaches our own check and gets
#: `request_too_large` with ErrorInfo; beyond this gRPC itself refuses (RESOURCE_EXHAUSTED).
_MAX_RECEIVE_BYTES = 2 * 1024 * 1024


class FlexServer:
    """One grpc.aio server with everything wired; ``start``, then ``stop`` (or ``serve``)."""

    def __init__(
        self,
        settings: Settings,
        extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
        sink: RecordSink | None = None,
        tracer_provider: TracerProvider | None = None,
        *,
        worker: bool = False,
    ) -> None:
        """``tracer_provider``: trace with this one (tests) instead of the one
        ``settings.tracing`` makes."""
        self.settings = settings
        #: One of several processes on the same ports: they are shared (``SO_REUSEPORT``),
        #: migrations are the supervisor's, and so are the ``listening on`` lines.
        self.worker = worker
        self._own_tracer_provider = tracer_provider is None
        self.tracer_provider = tracer_provider or tracing.make_provider(settings.tracing)
        tracing.install(self.tracer_provider)
        self._extra_handlers = extra_handlers
        self._engine = make_engine(settings.database_url)
        self.ledger = LedgerStore(make_sessionmaker(self._engine))
        self.catalog = catalog = load_catalog(settings)
        self.metrics = Metrics(catalog.metric_label)
        self._metrics_listener: HttpListener | None = None
        in_flight = InFlight()
        self.metrics.watch_in_flight(lambda: in_flight.count)
        self.record_writer = RecordWriter(
            self.ledger, on_commit=self._observe_commit, alone=in_flight.alone
        )
        self.ledger_watch = LedgerWatch(
            self.ledger, self._ledger_changed, settings.ledger_probe_interval_s
        )
        if settings.page_token_secret:
            # Any length of operator text: the key is its digest, so every worker agrees.
            set_page_token_secret(hashlib.sha256(settings.page_token_secret.encode()).digest())
        elif settings.encryption_key:
            # Every worker and replica already shares the provider-key secret; a key derived
            # from it (never the secret itself) makes their page tokens agree with no setting.
            derived = hmac.new(settings.encryption_key.encode(), b"flexgrpc page tokens", "sha256")
            set_page_token_secret(derived.digest())
        # Every request's record is made durable in the ledger before the end of its answer;
        # it is counted and logged once the answer has been released.
        self.sink: RecordSink = sink or self.record_writer
        # Metrics are counted only where they are served: without an endpoint nobody reads them.
        counted: list[RecordObserver] = (
            [RecordMetrics(self.metrics)] if settings.metrics_port is not None else []
        )
        self.observer = RecordObservers(*counted, RecordLog())
        self.health = HealthServicer()
        self._call_over = CallOverFilter(self.metrics.count_call_over)
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.metrics_port: int | None = None
        self._server: aio.Server | None = None
        self._rest: RestShim | None = None
        #: Lets the REST shim's loopback calls name the HTTP client's address (see AuthInterceptor).
        self._forwarded_token = secrets.token_urlsafe(32)
        cipher = (
            ProviderKeyCipher.from_setting(settings.encryption_key)
            if settings.encryption_key
            else None
        )
        self.accounts = AccountStore(make_sessionmaker(self._engine), cipher)
        self.dashboard = Dashboard(settings, make_sessionmaker(self._engine), self.accounts)
        timeouts = Timeouts(
            connect=settings.upstream_connect_timeout_s,
            idle=settings.upstream_idle_timeout_s,
            answer=settings.upstream_answer_timeout_s,
        )
        self._upstream = UpstreamClient(
            route_base_urls(
                settings.openai_base_url, settings.gemini_base_url, settings.anthropic_base_url
            ),
            timeouts,
        )
        provider_keys = ProviderKeyCache(self.accounts, settings.auth_cache_ttl_s)
        self.billing = build_billing(
            settings.billing,
            make_sessionmaker(self._engine),
            billable=functools.partial(is_billable_flex, catalog),
        )

        self.limiters = build_limiters(settings, self.metrics.observe_limit)
        self.router = Router(
            FlexRace(
                self._upstream,
                policy=LearnedFlexPolicy() if settings.flex_policy == "learned" else None,
            ),
            default_adapters(),
            provider_keys.get,
            self.sink,
            observer=self.observer,
            pricer=CatalogPricer(catalog),
            gate=self.billing.gate.check_request,
            max_body_bytes=settings.max_message_bytes,
            in_flight=in_flight,
            flex_models=catalog,
            limiters=self.limiters,
        )

    def _observe_commit(self, seconds: float, records: int, ok: bool) -> None:
        self.metrics.observe_commit(seconds, records, ok)
        if not ok:
            self.ledger_watch.suspect()

    async def _ledger_changed(self, writable: bool, reason: str) -> None:
        """Health follows the ledger: no service can keep its promise of a record per
        request while records cannot be committed."""
        self.metrics.ledger_writable.set(1 if writable else 0)
        if writable:
            log.warning("the ledger can write again; health SERVING")
        else:
            log.error("the ledger cannot write (%s); health NOT_SERVING until it can", reason)
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if writable
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)

    async def _prepare_database(self) -> None:
        """Migrate (unless a supervisor did), then prove a record can be committed;
        otherwise refuse to start, in one line (every request would fail)."""
        try:
            if not self.worker:
                await asyncio.to_thread(upgrade, self._engine)
            await asyncio.to_thread(self.ledger.probe)
        except DBAPIError as exc:
            self._engine.dispose()
            raise SystemExit(
                f"flexgrpc: the database cannot be written ({failure_reason(exc)}); every "
                "request's record must be, so the server does not start"
            ) from None

    def _options(self) -> list[tuple[str, int]]:
        s = self.settings
        return [
            ("grpc.keepalive_time_ms", s.keepalive_time_s * 1000),
            ("grpc.keepalive_timeout_ms", s.keepalive_timeout_s * 1000),
            ("grpc.keepalive_permit_without_calls", 1),
            # Clients may ping every 10 s while idle; faster pings get GOAWAY (ENHANCE_YOUR_CALM).
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.max_receive_message_length", _MAX_RECEIVE_BYTES),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_concurrent_streams", 10_000),
            # Calls that arrived but that the (Python) server has not picked up yet wait in
            # grpc-core's queue, which by default cancels arrivals beyond 1,000 (soft) / 3,000
            # (hard): a burst of flex races would be refused with CANCELLED before reaching us.
            ("grpc.server.max_pending_requests", s.max_concurrent_rpcs),
            ("grpc.server.max_pending_requests_hard_limit", s.max_concurrent_rpcs),
            ("grpc.so_reuseport", 1 if self.worker else 0),
            # A connection that never sends the HTTP/2 preface and settings is closed after
            # this, not held for grpc-core's default of 120 s.
            ("grpc.server_handshake_timeout_ms", round(s.grpc_handshake_timeout_s * 1000)),
        ]

    async def start(self) -> None:
        s = self.settings
        _GRPC_LOG.addFilter(self._call_over)
        await self._prepare_database()
        self.record_writer.start()
        if self.billing.scheduler is not None:
            self.billing.scheduler.start()
        billing_servicer = BillingServicer(self.billing)
        authenticator = Authenticator(
            self.accounts,
            cache_ttl_s=s.auth_cache_ttl_s,
            failures_per_minute=s.auth_failures_per_minute,
            sessions=self.dashboard.sessions,
        )
        interceptors: list[aio.ServerInterceptor] = [
            # Every method's errors are mapped, the public webhook's too (only auth skips it).
            ErrorInterceptor(on_malformed=self.metrics.count_malformed),
            AuthInterceptor(authenticator, PUBLIC_METHODS, self._forwarded_token, session_may_call),
        ]
        # Only gRPC calls get the gRPC server span: a REST request has its HTTP one already.
        traced: list[aio.ServerInterceptor] = [TracingInterceptor()] if self.tracer_provider else []
        server = aio.server(
            interceptors=[*traced, *interceptors],
            options=self._options(),
            maximum_concurrent_rpcs=s.max_concurrent_rpcs,
        )
        # The same servicers, for the REST shim's in-process calls. A HandlerRegistry has the
        # two methods the generated add_*Servicer_to_server functions call on a server.
        in_process = HandlerRegistry()
        account_servicer = AccountServicer(
            self.accounts,
            RequestLog(make_sessionmaker(self._engine)),
            operators=frozenset(s.billing.operator_organizations),
        )
        route_servicer = RouteServicer(
            self.router, TokenCounter(self._upstream, self.router.provider_key)
        )
        usage_servicer = UsageServicer(UsageQueries(make_sessionmaker(self._engine)))
        model_servicer = ModelServicer(self.catalog, self.accounts)
        for registry in (server, cast(aio.Server, in_process)):
            accounts_pb2_grpc.add_AccountServiceServicer_to_server(account_servicer, registry)
            route_pb2_grpc.add_RouteServiceServicer_to_server(route_servicer, registry)
            usage_pb2_grpc.add_UsageServiceServicer_to_server(usage_servicer, registry)
            billing_pb2_grpc.add_BillingServiceServicer_to_server(billing_servicer, registry)
            models_pb2_grpc.add_ModelServiceServicer_to_server(model_servicer, registry)
        if self._extra_handlers:
            server.add_generic_rpc_handlers(list(self._extra_handlers))
            in_process.add_generic_rpc_handlers(self._extra_handlers)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        try:
            self.grpc_port = server.add_insecure_port(f"{s.grpc_host}:{s.grpc_port}")
        except RuntimeError:  # grpc-core's "Failed to bind", logged by it with the cause
            self.grpc_port = 0
        if self.grpc_port == 0:
            raise SystemExit(
                f"cannot listen on {s.grpc_host}:{s.grpc_port}: the address is in use or not "
                "this host's (--grpc-port)"
            )
        await server.start()
        self._server = server
        serving = health_pb2.HealthCheckResponse.SERVING
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, serving)
        self._announce(f"grpc listening on {s.grpc_host}:{self.grpc_port}")
        self.ledger_watch.start()
        rest = RestShim(
            _SERVICES.values(),
            max_body_bytes=s.max_message_bytes,
            body_timeout_s=s.http_body_timeout_s,
            header_timeout_s=s.http_header_timeout_s,
            forwarded_token=self._forwarded_token,
            wrap_app=tracing.TracedAsgi if self.tracer_provider else None,
            public_methods=PUBLIC_METHODS,
        )
        try:
            servicers: str | InProcessChannel = (
                InProcessChannel(in_process, interceptors, max_concurrent=s.max_concurrent_rpcs)
                if s.rest_transport == "in-process"
                else loopback_target(s.grpc_host, self.grpc_port)
            )
            token = self._forwarded_token
            self.http_port = await rest.start(
                s.http_host,
                s.http_port,
                servicers,
                {DASHBOARD_PREFIX: lambda channel: self.dashboard.app(channel, token)},
                reuse_port=self.worker,
            )
        except OSError as exc:
            await server.stop(0)
            raise SystemExit(f"{exc} (the REST shim's --http-port)") from None
        self._rest = rest
        self._announce(f"http listening on {s.http_host}:{self.http_port}")
        if s.metrics_port is not None:
            listener = HttpListener(
                metrics_app(self.metrics),
                logger=logging.getLogger("flexgrpc.metrics.http"),
                name="flexgrpc-metrics",
                header_timeout_s=s.http_header_timeout_s,
            )
            try:
                self.metrics_port = await listener.start(s.metrics_host, s.metrics_port)
            except OSError as exc:
                await self.stop(0)
                raise SystemExit(f"{exc} (--metrics-port)") from None
            self._metrics_listener = listener
            self._announce(f"metrics listening on {s.metrics_host}:{self.metrics_port}")
        log.info("server started", extra={"grpc_port": self.grpc_port, "http_port": self.http_port})

    def _announce(self, line: str) -> None:
        if not self.worker:
            print(line, flush=True)

    async def stop(self, grace: float | None = None) -> None:
        """Drain: report NOT_SERVING, refuse new calls, let in-flight ones finish in ``grace``."""
        grace = self.settings.shutdown_grace_s if grace is None else grace
        await self.ledger_watch.stop()
        await self.health.enter_graceful_shutdown()
        log.info("draining", extra={"grace_s": grace})
        # Both at once, with the same grace: REST requests in flight (their calls run in process,
        # or over loopback as gRPC calls in flight) and gRPC calls.
        draining = [self._rest.stop(grace)] if self._rest is not None else []
        if self._metrics_listener is not None:
            draining.append(self._metrics_listener.stop())
        if self._server is not None:
            draining.append(self._server.stop(grace))
        await asyncio.gather(*draining)
        if self.billing.scheduler is not None:
            await self.billing.scheduler.stop()
        await self.record_writer.stop()
        await self._upstream.aclose()
        await self.limiters.aclose()
        self._engine.dispose()
        if self.tracer_provider is not None and self._own_tracer_provider:
            await asyncio.to_thread(self.tracer_provider.shutdown)  # exports what is left
        _GRPC_LOG.removeFilter(self._call_over)
        log.info("server stopped")

    async def wait_for_termination(self) -> None:
        assert self._server is not None
        await self._server.wait_for_termination()


async def serve(
    settings: Settings,
    extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
    *,
    worker: Callable[[FlexServer], None] | None = None,
    supervisor_gone: int | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then drain and stop.

    As a worker, ``worker`` is called once the server listens, the supervisor's SIGTERM stops
    it (SIGINT from a terminal goes to the supervisor, which passes it on), and so does the
    file descriptor ``supervisor_gone`` turning readable (the supervisor died)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set if worker is None else lambda: None)
    if supervisor_gone is not None:
        loop.add_reader(supervisor_gone, stop.set)
    server = FlexServer(settings, extra_handlers, worker=worker is not None)
    await server.start()
    # What start-up made (modules, the catalog, protobuf descriptors, the app) lives as long as
    # the process: out of the collector's reach, its full collections walk only what requests
    # make, instead of the whole heap each time (~0.2 ms of CPU per request at c=64 here).
    gc.freeze()
    if worker is not None:
        worker(server)
    await stop.wait()
    log.info("shutdown signal received")
    await server.stop()


def run(settings: Settings, extra_handlers: Sequence[grpc.GenericRpcHandler] = ()) -> int:
    try:
        asyncio.run(serve(settings, extra_handlers))
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0
