"""OpenTelemetry tracing: one trace per request, off by default, and next to free when off.

The server installs a tracer provider at start when tracing is configured
(``FLEXGRPC_TRACING``, see ``flexgrpc.config``). The router's request span is ``start``-ed and
``finish``-ed by hand (the router is a generator that yields between its steps, so its span is
never left current across a ``yield``); the race's spans are made current with ``span`` so that
the upstream requests inside them are their children; steps with no children of their own
(authentication, pricing, the ledger commit, request translation) are ``leaf`` spans, never made
current. Without a provider each of these returns ``None`` or one shared ``nullcontext``: a
function call and an empty ``with`` per step, no span objects, no context changes.

The transport edges are spans of our own too, one per request and nothing per message: the
gRPC server's (``flexgrpc.api.interceptors.TracingInterceptor``) and the REST shim's
(``TracedAsgi``) are ``server`` spans parented by the caller's W3C ``traceparent`` (metadata or
header, read with the configured propagator), and each upstream request is a ``client`` span
whose context goes to the provider in the request's headers (``inject``). OpenTelemetry's own
instrumentation for these (ASGI, gRPC, aiohttp) is not used: it wrapped every ``send`` and
``receive``, every received chunk and connection-pool event, and set a dozen attributes per
span, which was most of what tracing cost."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()
_tracer: trace.Tracer | None = None
#: The header (metadata) names the propagator reads (``traceparent``, ``tracestate``, ...).
_fields: frozenset[str] = frozenset()
_SERVER, _CLIENT = trace.SpanKind.SERVER, trace.SpanKind.CLIENT


def install(provider: trace.TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (``None``: stop tracing)."""
    global _tracer, _fields
    _tracer = provider.get_tracer("flexgrpc") if provider is not None else None
    _fields = frozenset(propagate.get_global_textmap().fields)


def active() -> bool:
    """Whether a provider is installed."""
    return _tracer is not None


def server(
    name: str,
    carrier: Iterable[tuple[str | bytes, str | bytes]],
    attributes: Mapping[str, Any] | None = None,
) -> trace.Span | None:
    """A request's server span (not made current; see ``within``), parented by the caller's
    trace context if ``carrier`` (headers or metadata, names in lower case) carries one."""
    if _tracer is None:
        return None
    found: dict[str, str] | None = None
    for key, value in carrier:
        name_ = key.decode("latin-1") if isinstance(key, bytes) else key
        if name_ in _fields:
            if found is None:
                found = {}
            found[name_] = value.decode("latin-1") if isinstance(value, bytes) else value
    parent = propagate.extract(found) if found else None
    return _tracer.start_span(name, context=parent, kind=_SERVER, attributes=attributes)


def client(method: str, url: str) -> trace.Span | None:
    """An outgoing HTTP request's span (named ``method``), child of the current one; ``inject``
    its context into the request's headers, ``finish`` it when the answer's head has arrived."""
    if _tracer is None:
        return None
    attributes = {"http.request.method": method, "url.full": url}
    return _tracer.start_span(method, kind=_CLIENT, attributes=attributes)


def inject(target: trace.Span | None, headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus ``target``'s trace context (``traceparent``) for the next hop."""
    if target is None:
        return headers
    sent: MutableMapping[str, str] = dict(headers)
    propagate.inject(sent, context=trace.set_span_in_context(target))
    return sent


def fail(target: trace.Span | None, error: BaseException) -> None:
    """End ``target`` as failed by ``error``."""
    if target is None:
        return
    if target.is_recording():
        target.record_exception(error)
        target.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
    target.end()


def span(
    name: str, attributes: Mapping[str, Any] | None = None
) -> contextlib.AbstractContextManager[trace.Span | None]:
    """A span named ``name``, current inside the ``with`` block, child of the current one."""
    if _tracer is None:
        return _OFF
    return _Current(_tracer.start_span(name, attributes=attributes), end=True)


def start(name: str) -> trace.Span | None:
    """A span that is not made current: for work that yields to its caller in between (a
    generator), whose steps name it as their ``parent``. The caller ends it (``finish``)."""
    return _tracer.start_span(name) if _tracer is not None else None


def start_under(name: str, parent: trace.Span | None) -> trace.Span | None:
    """Like ``start``, under ``parent``."""
    if _tracer is None or parent is None:
        return None
    return _tracer.start_span(name, context=trace.set_span_in_context(parent))


def within(target: trace.Span | None) -> contextlib.AbstractContextManager[Any]:
    """``target`` (from ``start``) current inside the block, which must not yield; not ended."""
    if target is None:
        return _OFF
    return _Current(target, end=False)


class _Current:
    """``target`` current inside the block: OpenTelemetry's ``use_span`` without its generator
    machinery (an attach and a detach); an exception leaving the block marks the span failed;
    ``end``: the span ends with the block."""

    __slots__ = ("_end", "_span", "_token")

    def __init__(self, target: trace.Span, *, end: bool) -> None:
        self._span, self._end = target, end
        self._token: Token[otel_context.Context] | None = None

    def __enter__(self) -> trace.Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if self._token is not None:
            otel_context.detach(self._token)
        if isinstance(error, Exception) and self._span.is_recording():
            self._span.record_exception(error)
            self._span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
        if self._end:
            self._span.end()


class _Leaf:
    """A span with no children: started and ended around a block, never made current (no
    context to attach and detach, which is most of what a current span costs)."""

    __slots__ = ("_name", "_parent", "_span")

    def __init__(self, name: str, parent: trace.Span | None) -> None:
        self._name, self._parent = name, parent
        self._span: trace.Span | None = None

    def __enter__(self) -> trace.Span | None:
        if _tracer is not None:
            context = trace.set_span_in_context(self._parent) if self._parent else None
            self._span = _tracer.start_span(self._name, context=context)
        return self._span

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        span = self._span
        if span is not None:
            if error is not None:
                span.record_exception(error)
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
            span.end()


def leaf(
    name: str, parent: trace.Span | None = None
) -> contextlib.AbstractContextManager[trace.Span | None]:
    """A span for a step that opens no span of its own (the ledger commit, pricing), under
    ``parent`` (from ``start``) or else the current span."""
    if _tracer is None:
        return _OFF
    return _Leaf(name, parent)


def finish(target: trace.Span | None, error: str = "", **attributes: Any) -> None:
    """End ``target`` with ``attributes``; ``error`` (a code) marks it failed."""
    if target is None:
        return
    if attributes:
        annotate(target, **attributes)
    if error:
        target.set_status(trace.Status(trace.StatusCode.ERROR, error))
    target.end()


def annotate(target: trace.Span | None, **attributes: Any) -> None:
    """Set attributes on ``target`` (the value a ``with span(...)`` gave; ``None`` when off)."""
    if target is not None and target.is_recording():
        target.set_attributes({k: v for k, v in attributes.items() if v is not None})


Asgi = Callable[[Any, Any, Any], Awaitable[None]]


class TracedAsgi:
    """An ASGI app's HTTP requests as one ``server`` span each (``METHOD /path``), parented by
    the ``traceparent`` header and current while the app runs; the answer's status is its
    ``http.response.status_code`` (5xx: failed). Nothing else per message."""

    def __init__(self, app: Asgi) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if _tracer is None or scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        target = server(
            f"{method} {path}",
            scope["headers"],
            {"http.request.method": method, "url.path": path},
        )
        assert target is not None  # a tracer is installed
        status = 0

        async def sent(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(target))
        try:
            await self._app(scope, receive, sent)
        except BaseException as error:
            fail(target, error)
            raise
        finally:
            otel_context.detach(token)
        finish(target, "HTTP 5xx" if status >= 500 else "", **{"http.response.status_code": status})


class DiscardingProcessor(SpanProcessor):
    """Drops each span as it ends: no queue, no export thread (``discard``: what making the
    spans costs, nothing else)."""

    def on_start(self, span: SdkSpan, parent_context: otel_context.Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        pass


def make_provider(mode: str) -> TracerProvider | None:
    """The provider for ``mode`` (``None`` when ``off``; ``otlp``: spans exported over OTLP/HTTP
    to the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``;
    ``discard``: made and ended, then dropped by ``DiscardingProcessor``, to measure what
    making the spans costs; the OTLP exporter's batching thread is not in it). The sampler
    is the SDK's, set with the standard ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``
    (default: every trace, or as the caller's ``traceparent`` says)."""
    if mode == "off":
        return None
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "flexgrpc"}))
    # Spans here carry a few attributes, no links and no events: small limits make each span
    # cheaper to create.
    limits = SpanLimits(max_events=4, max_links=0, max_attributes=32)
    provider = TracerProvider(resource=resource, span_limits=limits)
    processor: SpanProcessor = DiscardingProcessor()
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Reads the standard OTEL_EXPORTER_OTLP_* (and OTEL_BSP_*) variables.
        processor = BatchSpanProcessor(OTLPSpanExporter())
    provider.add_span_processor(processor)
    return provider


@contextlib.contextmanager
def installed(provider: trace.TracerProvider | None) -> Iterator[None]:
    """``install(provider)`` for the block (tests), then back to what was installed before."""
    global _tracer
    before = _tracer
    install(provider)
    try:
        yield
    finally:
        _tracer = before
