"""OpenTelemetry tracing: one trace per request, off by default, and next to free when off.

The server installs a tracer provider at start when tracing is configured
(``FLEXGRPC_TRACING``, see ``flexgrpc.config``). The router's request span is ``start``-ed and
``finish``-ed by hand (the router is a generator that yields between its steps, so its span is
never left current across a ``yield``); the race's spans are made current with ``span`` so that
the upstream requests inside them are their children; steps with no children of their own
(authentication, pricing, the ledger commit, request translation) are ``leaf`` spans, never made
current. Without a provider each of these returns ``None`` or one shared ``nullcontext``: a
function call and an empty ``with`` per step, no span objects, no context changes. The transport
edges (the gRPC server, the REST shim's ASGI app, the aiohttp client upstream) are traced by
OpenTelemetry's own instrumentation, which reads W3C ``traceparent`` from the caller and sends
it upstream; the server wires those in (``flexgrpc.server``) only when tracing is on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()
_tracer: trace.Tracer | None = None


def install(provider: trace.TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (``None``: stop tracing)."""
    global _tracer
    _tracer = provider.get_tracer("flexgrpc") if provider is not None else None


def span(
    name: str, attributes: Mapping[str, Any] | None = None
) -> contextlib.AbstractContextManager[trace.Span | None]:
    """A span named ``name``, current inside the ``with`` block, child of the current one."""
    if _tracer is None:
        return _OFF
    return _tracer.start_as_current_span(name, attributes=attributes)


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
    return trace.use_span(target, end_on_exit=False)


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
    annotate(target, **attributes)
    if error:
        target.set_status(trace.Status(trace.StatusCode.ERROR, error))
    target.end()


def annotate(target: trace.Span | None, **attributes: Any) -> None:
    """Set attributes on ``target`` (the value a ``with span(...)`` gave; ``None`` when off)."""
    if target is not None:
        target.set_attributes({k: v for k, v in attributes.items() if v is not None})


class DiscardingExporter(SpanExporter):
    """Accepts every span and keeps none."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def make_provider(mode: str) -> TracerProvider | None:
    """The provider for ``mode`` (``None`` when ``off``; ``otlp``: spans exported over OTLP/HTTP
    to the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``;
    ``discard``: made and processed, then dropped, to measure what tracing costs). The sampler
    is the SDK's, set with the standard ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``
    (default: every trace, or as the caller's ``traceparent`` says)."""
    if mode == "off":
        return None
    exporter: SpanExporter
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # reads the standard OTEL_EXPORTER_OTLP_* variables
    else:
        exporter = DiscardingExporter()
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "flexgrpc"}))
    # Spans here carry a few attributes, no links and no events: small limits make each span
    # cheaper to create.
    limits = SpanLimits(max_events=4, max_links=0, max_attributes=32)
    provider = TracerProvider(resource=resource, span_limits=limits)
    provider.add_span_processor(BatchSpanProcessor(exporter))
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
