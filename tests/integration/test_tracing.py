"""Tracing: the span tree of a request, with the caller's ``traceparent`` as its parent and
carried on to the provider.

A real server (``FlexServer``, in this process so that an in-memory exporter sees its spans)
routes to the simulator over HTTP; calls come over gRPC and over the REST shim.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import pathlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
import httpx
import pytest
from flexinference.v1 import accounts_pb2, accounts_pb2_grpc, route_pb2, route_pb2_grpc
from google.api import httpbody_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flexgrpc import tracing
from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.config import Settings
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.server import FlexServer
from flexgrpc.sim import SimConfig, SimulatorThread
from tests.integration.conftest import Caller, new_caller
from tests.serverproc import start_server

MODEL = "gpt-5-mini"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
WINDOW = "00h-00m-30s"


@dataclass
class Traced:
    server: FlexServer
    spans: InMemorySpanExporter
    caller: Caller


@pytest.fixture
async def traced(tmp_path: pathlib.Path, fresh_sim: SimulatorThread) -> AsyncIterator[Traced]:
    url = f"sqlite:///{tmp_path / 'traced.db'}"
    secret = generate_encryption_key()
    upgrade(url)
    store = AccountStore(
        make_sessionmaker(make_engine(url)), ProviderKeyCipher.from_setting(secret)
    )
    caller = new_caller(store, "Traced Co")
    store.set_provider_key(caller.organization_id, "openai", "sk-test-" + "a" * 32)
    store.set_provider_key(caller.organization_id, "anthropic", "sk-ant-" + "c" * 32)
    settings = Settings.from_env(
        {
            "FLEXGRPC_DATABASE_URL": url,
            "FLEXGRPC_ENCRYPTION_KEY": secret,
            "FLEXGRPC_OPENAI_BASE_URL": f"{fresh_sim.url}/v1",
            "FLEXGRPC_ANTHROPIC_BASE_URL": f"{fresh_sim.url}/v1",
            "FLEXGRPC_GRPC_HOST": "127.0.0.1",
            "FLEXGRPC_GRPC_PORT": "0",
            "FLEXGRPC_HTTP_HOST": "127.0.0.1",
            "FLEXGRPC_HTTP_PORT": "0",
        }
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.installed(None):
        server = FlexServer(settings, tracer_provider=provider)
        await server.start()
        try:
            yield Traced(server, exporter, caller)
        finally:
            await server.stop(0)


async def _trace(spans: InMemorySpanExporter, root: str) -> dict[str, list[ReadableSpan]]:
    """The finished spans by name, once the server span named ``root`` has ended."""
    for _ in range(500):
        finished = spans.get_finished_spans()
        if any(s.name == root for s in finished):
            break
        await asyncio.sleep(0.01)
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans.get_finished_spans():
        by_name.setdefault(span.name, []).append(span)
    return by_name


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _children(tree: dict[str, list[ReadableSpan]], of: ReadableSpan) -> list[str]:
    return sorted(
        name for name, spans in tree.items() for s in spans if _parent(s) == of.context.span_id
    )


def _body(**fields: Any) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(fields).encode())


async def test_a_flex_win_over_grpc_is_one_trace_under_the_callers_traceparent(
    traced: Traced, fresh_sim: SimulatorThread
) -> None:
    metadata = (*traced.caller.metadata, ("traceparent", TRACEPARENT))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.server.grpc_port}") as channel:
        call = route_pb2_grpc.RouteServiceStub(channel).CreateResponse(
            route_pb2.CreateResponseRequest(
                body=_body(model=MODEL, input="hi", start_within=WINDOW)
            ),
            metadata=metadata,
            timeout=30,
        )
        answer = b"".join([m.data async for m in call])
    assert json.loads(answer)["service_tier"] == "flex"

    tree = await _trace(traced.spans, "/flexinference.v1.RouteService/CreateResponse")
    (server,) = tree["/flexinference.v1.RouteService/CreateResponse"]
    assert {s.context.trace_id for spans in tree.values() for s in spans} == {int(TRACE_ID, 16)}
    assert _parent(server) == int(CLIENT_SPAN, 16)  # the caller's span is the parent
    assert _children(tree, server) == ["authenticate", "route"]
    (route,) = tree["route"]
    assert _children(tree, route) == ["ledger.commit", "price", "race"]
    assert route.attributes is not None
    assert route.attributes["flexgrpc.outcome"] == "flex_won"
    (race,) = tree["race"]
    assert _children(tree, race) == ["race.flex_attempt"]
    (attempt,) = tree["race.flex_attempt"]
    (upstream,) = [s for s in tree["POST"] if _parent(s) == attempt.context.span_id]

    # The provider got the trace, with the upstream request's span as its parent.
    (seen,) = fresh_sim.records
    assert seen.traceparent == f"00-{TRACE_ID}-{upstream.context.span_id:016x}-01"
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert upstream.attributes is not None
    assert upstream.attributes["http.response.status_code"] == 200


async def test_a_refused_grpc_call_ends_its_span_with_the_status(traced: Traced) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.server.grpc_port}") as channel:
        call = route_pb2_grpc.RouteServiceStub(channel).CreateResponse(
            route_pb2.CreateResponseRequest(body=_body(model=MODEL, input="hi")),
            metadata=(("authorization", "Bearer sk-not-a-key"),),
            timeout=30,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            _ = [m async for m in call]
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    tree = await _trace(traced.spans, "/flexinference.v1.RouteService/CreateResponse")
    (server,) = tree["/flexinference.v1.RouteService/CreateResponse"]
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert not server.status.is_ok
    assert _children(tree, server) == ["authenticate"]


async def test_a_fallback_over_rest_traces_the_attempt_and_the_fallback(
    traced: Traced, fresh_sim: SimulatorThread
) -> None:
    # Flex refuses with a Retry-After longer than the window: the race falls back at once.
    fresh_sim.config = SimConfig(seed=7).with_tier("flex", refusal_rate=1.0, retry_after=60)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{traced.server.http_port}") as http:
        reply = await http.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "start_within": WINDOW,
                "stream": True,
            },
            headers={
                "authorization": f"Bearer {traced.caller.api_key}",
                "traceparent": TRACEPARENT,
            },
        )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-flexinference-tier"] == "standard"

    tree = await _trace(traced.spans, "POST /v1/chat/completions")
    (server,) = tree["POST /v1/chat/completions"]
    assert _parent(server) == int(CLIENT_SPAN, 16)
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    assert {s.context.trace_id for spans in tree.values() for s in spans} == {int(TRACE_ID, 16)}
    (route,) = tree["route"]
    (auth,) = tree["authenticate"]
    assert auth.context.trace_id == route.context.trace_id
    (race,) = tree["race"]
    assert _children(tree, race) == ["race.fallback", "race.flex_attempt"]
    assert race.attributes is not None
    assert race.attributes["flexgrpc.outcome"] == "fell_back"
    for step in ("race.flex_attempt", "race.fallback"):
        (span,) = tree[step]
        assert _children(tree, span) == ["POST"]  # its upstream request
    refused, served = fresh_sim.records
    assert (refused.service_tier, served.service_tier) == ("flex", "default")
    assert refused.traceparent is not None
    assert served.traceparent is not None
    assert refused.traceparent.split("-")[1] == served.traceparent.split("-")[1] == TRACE_ID


async def test_a_translated_pair_traces_both_translations(traced: Traced) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{traced.server.http_port}") as http:
        reply = await http.post(
            "/v1/chat/completions",
            json={
                "model": "claude-sonnet-4-5",
                "messages": [{"role": "user", "content": "hi"}],
                "start_within": "default",
            },
            headers={"authorization": f"Bearer {traced.caller.api_key}"},
        )
    assert reply.status_code == 200, reply.text
    tree = await _trace(traced.spans, "POST /v1/chat/completions")
    (route,) = tree["route"]
    assert _children(tree, route) == [
        "ledger.commit",
        "price",
        "race",
        "translate.answer",
        "translate.request",
    ]
    (race,) = tree["race"]
    assert _children(tree, race) == ["POST"]  # a fixed tier: the upstream request alone


async def test_a_caller_that_samples_out_gets_no_spans_and_the_decision_goes_on(
    traced: Traced, fresh_sim: SimulatorThread
) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{traced.server.http_port}") as http:
        reply = await http.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "start_within": "default",
            },
            headers={
                "authorization": f"Bearer {traced.caller.api_key}",
                "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-00",
            },
        )
    assert reply.status_code == 200, reply.text
    (seen,) = fresh_sim.records
    assert seen.traceparent is not None
    assert seen.traceparent.startswith(f"00-{TRACE_ID}-")
    assert seen.traceparent.endswith("-00")
    await asyncio.sleep(0.1)
    assert traced.spans.get_finished_spans() == ()


async def test_tracing_is_off_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.tracing == "off"
    assert tracing.make_provider(settings.tracing) is None
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}).tracing == "otlp"
    with tracing.installed(None), tracing.span("anything") as span:
        assert span is None


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace endpoint that keeps the span names it receives."""

    names: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.names.extend(span.name for span in scope.spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_configured_otlp_endpoint_receives_the_spans(
    tmp_path: pathlib.Path, server_env: dict[str, str], accounts: AccountStore
) -> None:
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    server = start_server(
        tmp_path,
        {**server_env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50"},
    )
    try:
        caller = new_caller(accounts, "Exported Co")
        with grpc.insecure_channel(server.target) as channel:
            stub = accounts_pb2_grpc.AccountServiceStub(channel)
            stub.GetOrganization(
                accounts_pb2.GetOrganizationRequest(name="organizations/-"),
                metadata=caller.metadata,
                timeout=10,
            )
    finally:
        server.stop()  # flushes what is left
        collector.shutdown()
    assert "/flexinference.v1.AccountService/GetOrganization" in _Collector.names
    assert "authenticate" in _Collector.names
