"""Hostile input gets the spec's 400 (never a 500, UNKNOWN or traceback), over REST and gRPC.

One real ``flexgrpc serve`` (gRPC + REST shim + metrics) in front of the provider simulator;
requests go through httpx, raw sockets and real gRPC channels.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from flexinference.v1 import (
    route_pb2,
    route_pb2_grpc,
    types_pb2,
    usage_pb2,
    usage_pb2_grpc,
)
from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2

from flexgrpc.accounts.store import AccountStore
from flexgrpc.sim import SimulatorThread
from tests.compat.conftest import Org, new_org, open_store, server_env
from tests.richstatus import rich_error
from tests.serverproc import ServerProcess, start_server

WEBHOOK_SECRET = "whsec_hostile"
_LINE = re.compile(r"^(?P<what>http|metrics) listening on [^\s:]+:(?P<port>\d+)$")
#: Escaped in JSON text: a lone high surrogate, as a caller would type it.
LONE = "\\ud800"


@dataclass
class Stack:
    process: ServerProcess
    http_port: int
    metrics_port: int
    store: AccountStore

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _read_ports(process: ServerProcess) -> dict[str, int]:
    assert process.process.stdout is not None
    ports: dict[str, int] = {}
    while len(ports) < 2:
        line = process.process.stdout.readline().rstrip("\n")
        if not line:
            raise RuntimeError(f"no listen lines: {process.logs()[-2000:]}")
        match = _LINE.match(line)
        if match:
            ports[match["what"]] = int(match["port"])
    return ports


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("hostile")
    env = server_env(
        home,
        sim,
        FLEXGRPC_METRICS_PORT="0",
        FLEXGRPC_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        FLEXGRPC_AUTH_FAILURES_PER_MINUTE="100000",
        FLEXGRPC_GRPC_HANDSHAKE_TIMEOUT_S="0.5",
    )
    store = open_store(env)
    process = start_server(home, env)
    ports = _read_ports(process)
    yield Stack(process, ports["http"], ports["metrics"], store)
    process.stop()


@pytest.fixture
def org(stack: Stack) -> Org:
    return new_org(stack.store)


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=60) as client:
        yield client


def _headers(org: Org) -> dict[str, str]:
    return {"authorization": f"Bearer {org.api_key}", "content-type": "application/json"}


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from any of the three envelopes."""
    body = response.json()
    error = body["error"]
    if "code" in error and isinstance(error["code"], str):
        return error["code"], error["message"]
    if body.get("type") == "error":  # Anthropic: the code is in the message's type
        return error["type"], error["message"]
    reason = next(d["reason"] for d in error.get("details", []) if "reason" in d)
    return reason, error["message"]


def _error_codes(stack: Stack, org: Org) -> list[str]:
    with grpc.insecure_channel(stack.process.target) as channel:
        page = usage_pb2_grpc.UsageServiceStub(channel).ListUsageRecords(
            usage_pb2.ListUsageRecordsRequest(parent="organizations/-", page_size=100),
            metadata=(("authorization", f"Bearer {org.api_key}"),),
        )
    return [r.error_code for r in page.usage_records]


_GENERATE = "/v1beta/models/gemini-3-flash-preview:generateContent"
_SURFACE_BODIES = {
    "/v1/chat/completions": '{"model": "gpt-5-mini", "start_within": "default", '
    '"messages": [{"role": "user", "content": "hi %s"}]}',
    "/v1/responses": '{"model": "gpt-5-mini", "start_within": "default", "input": "hi %s"}',
    "/v1/messages": '{"model": "claude-sonnet-4-5", "start_within": "default", "max_tokens": 8, '
    '"messages": [{"role": "user", "content": "hi %s"}]}',
    "/v1/interactions": '{"model": "gemini-3-flash-preview", "start_within": "default", '
    '"input": "hi %s"}',
    # A body "model" as well as the path's: the path's wins, and the body is rewritten first.
    _GENERATE: '{"model": "other", "start_within": "default", '
    '"contents": [{"role": "user", "parts": [{"text": "hi %s"}]}]}',
}
_FIELDS = {
    "/v1/chat/completions": "messages[0].content",
    "/v1/responses": "input",
    "/v1/messages": "messages[0].content",
    "/v1/interactions": "input",
    _GENERATE: "contents[0].parts[0].text",
}


# ---- 1. a lone surrogate in a body string ------------------------------------------------


@pytest.mark.parametrize("path", sorted(_SURFACE_BODIES))
def test_a_lone_surrogate_in_a_body_string_is_refused_naming_its_field(
    stack: Stack, org: Org, http: httpx.Client, path: str
) -> None:
    body = _SURFACE_BODIES[path] % LONE
    response = http.post(path, content=body.encode(), headers=_headers(org))
    assert response.status_code == 400, response.text
    code, message = _error_of(response)
    assert code in ("invalid_json", "invalid_request_error")
    assert _FIELDS[path] in message
    assert "surrogate" in message
    assert "internal_error" not in _error_codes(stack, org)


def test_a_lone_surrogate_is_refused_over_grpc_too(stack: Stack, org: Org) -> None:
    body = (_SURFACE_BODIES["/v1/chat/completions"] % LONE).encode()
    with grpc.insecure_channel(stack.process.target) as channel:
        stub = route_pb2_grpc.RouteServiceStub(channel)
        request = route_pb2.CreateChatCompletionRequest(
            body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
        )
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.CreateChatCompletion(request, metadata=_metadata(org)))
    error = rich_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_json")
    assert [v.field for b in error.bad_request for v in b.field_violations] == [
        "messages[0].content"
    ]


def test_a_surrogate_pair_is_a_character_and_passes(org: Org, http: httpx.Client) -> None:
    body = _SURFACE_BODIES["/v1/chat/completions"] % "\\ud83d\\ude00"
    response = http.post("/v1/chat/completions", content=body.encode(), headers=_headers(org))
    assert response.status_code == 200, response.text


# ---- 2. a lone surrogate in a key of a typed RPC's body ----------------------------------

_ROUTE_BODY = (
    '{"model": "gpt-5-mini", "surface": "SURFACE_CHAT_COMPLETIONS", '
    '"routing": {"tier": "START_TIER_DEFAULT"}, "%s": 1}'
)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/route", (_ROUTE_BODY % LONE).encode()),
        ("/v1/route:stream", (_ROUTE_BODY % LONE).encode()),
        ("/v1/route", (_ROUTE_BODY % "\udfff").encode("utf-8", "surrogatepass")),
        ("/v1/organizations/-/apiKeys", b'{"\\ud800x": "y"}'),
        ("/v1/organizations/-/apiKeys", b'{"\xed\xa0\x80": "y"}'),
        ("/v1/organizations/-/billingAccount:attachPaymentMethod", b'{"\\udc00": 1}'),
    ],
    ids=["route", "route-stream", "route-raw-bytes", "account", "account-raw", "billing"],
)
def test_a_lone_surrogate_in_a_typed_bodys_key_is_a_400(
    org: Org, http: httpx.Client, path: str, body: bytes
) -> None:
    response = http.post(path, content=body, headers=_headers(org))
    assert response.status_code == 400, response.text
    assert _error_of(response)[0] == "invalid_json"


def test_a_lone_surrogate_in_the_typed_route_body_data_is_refused_over_grpc(
    stack: Stack, org: Org
) -> None:
    for data in (b'{"x": "\\ud800"}', b'{"x": "\xed\xa0\x80"}'):
        request = route_pb2.RouteRequest(
            model="gpt-5-mini",
            surface=types_pb2.SURFACE_CHAT_COMPLETIONS,
            routing=types_pb2.RoutingControls(tier=types_pb2.START_TIER_DEFAULT),
            body=httpbody_pb2.HttpBody(content_type="application/json", data=data),
        )
        with (
            grpc.insecure_channel(stack.process.target) as channel,
            pytest.raises(grpc.RpcError) as caught,
        ):
            route_pb2_grpc.RouteServiceStub(channel).Route(request, metadata=_metadata(org))
        error = rich_error(caught.value)
        assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_json")


# ---- 3. a malformed protobuf message ------------------------------------------------------


def _metadata(org: Org) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {org.api_key}"),)


def test_a_malformed_request_message_is_invalid_argument_logged_once_and_counted(
    stack: Stack,
) -> None:
    before = stack.process.logs()
    method = "/flexinference.v1.AccountService/GetOrganization"
    with grpc.insecure_channel(stack.process.target) as channel:
        call = channel.unary_unary(method)  # raw bytes both ways
        errors = []
        for _ in range(50):
            with pytest.raises(grpc.RpcError) as caught:
                call(b"\xff\xff\xff\xff", timeout=30)  # no API key, too
            errors.append(caught.value)
    error = rich_error(errors[0])
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument")
    assert {e.code() for e in errors} == {grpc.StatusCode.INVALID_ARGUMENT}
    assert "class" not in error.message
    assert "DecodeError" not in error.message
    new_log = stack.process.logs()[len(before) :]
    assert "Traceback" not in new_log
    assert new_log.count("malformed request message") <= 1
    metrics = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/metrics").text
    assert f'flexgrpc_malformed_requests_total{{method="{method}"}} 50.0' in metrics


# ---- 4. page tokens ----------------------------------------------------------------------


def _old_style_token(cursor: object, arguments: dict[str, object]) -> str:
    """A token as a forger could build one: base64 JSON with a recomputed fingerprint."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    raw = json.dumps({"c": cursor, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def usage(stack: Stack) -> Iterator[usage_pb2_grpc.UsageServiceStub]:
    with grpc.insecure_channel(stack.process.target) as channel:
        yield usage_pb2_grpc.UsageServiceStub(channel)


@pytest.mark.parametrize(
    "cursor", [["abc"], [None], [1e400], ["2026-11-01T00:00:00", "req_1"], [1]]
)
def test_forged_page_tokens_are_invalid_page_token(
    org: Org, usage: usage_pb2_grpc.UsageServiceStub, cursor: list[object]
) -> None:
    token = _old_style_token(cursor, {})
    requests = [
        (
            usage.SummarizeUsage,
            usage_pb2.SummarizeUsageRequest(
                parent="organizations/-",
                start_time=timestamp_pb2.Timestamp(seconds=0),
                end_time=timestamp_pb2.Timestamp(seconds=4_000_000_000),
                page_token=token,
            ),
        ),
        (
            usage.ListUsageRecords,
            usage_pb2.ListUsageRecordsRequest(parent="organizations/-", page_token=token),
        ),
    ]
    for rpc, request in requests:
        with pytest.raises(grpc.RpcError) as caught:
            rpc(request, metadata=_metadata(org))
        error = rich_error(caught.value)
        assert (error.code, error.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_page_token",
        )


def test_a_page_token_works_only_for_its_organization_and_query(
    stack: Stack, org: Org, http: httpx.Client, usage: usage_pb2_grpc.UsageServiceStub
) -> None:
    for _ in range(3):
        body = _SURFACE_BODIES["/v1/chat/completions"] % "there"
        assert http.post("/v1/chat/completions", content=body, headers=_headers(org)).is_success
    first = usage.ListUsageRecords(
        usage_pb2.ListUsageRecordsRequest(parent="organizations/-", page_size=1),
        metadata=_metadata(org),
    )
    token = first.next_page_token
    assert token
    second = usage.ListUsageRecords(
        usage_pb2.ListUsageRecordsRequest(parent="organizations/-", page_size=1, page_token=token),
        metadata=_metadata(org),
    )
    assert second.usage_records[0].request_id != first.usage_records[0].request_id
    other = new_org(stack.store, "Other Co")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    refused = [
        (other, usage_pb2.ListUsageRecordsRequest(parent="organizations/-", page_token=token)),
        (org, usage_pb2.ListUsageRecordsRequest(parent="organizations/-", model="o3",
                                                page_token=token)),
        (org, usage_pb2.ListUsageRecordsRequest(parent="organizations/-", page_token=tampered)),
    ]  # fmt: skip
    for caller, request in refused:
        with pytest.raises(grpc.RpcError) as caught:
            usage.ListUsageRecords(request, metadata=_metadata(caller))
        assert rich_error(caught.value).reason == "invalid_page_token"
    response = http.get(
        "/v1/organizations/-/usageRecords", params={"pageToken": "abc"}, headers=_headers(org)
    )
    assert response.status_code == 400
    assert _error_of(response)[0] == "invalid_page_token"


def test_an_out_of_range_timestamp_is_invalid_argument(
    org: Org, usage: usage_pb2_grpc.UsageServiceStub
) -> None:
    far = timestamp_pb2.Timestamp(seconds=2**62)
    for rpc, request in [
        (usage.ListUsageRecords, usage_pb2.ListUsageRecordsRequest(parent="organizations/-",
                                                                   start_time=far)),
        (usage.SummarizeUsage, usage_pb2.SummarizeUsageRequest(
            parent="organizations/-", start_time=timestamp_pb2.Timestamp(seconds=0), end_time=far
        )),
    ]:  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            rpc(request, metadata=_metadata(org))
        error = rich_error(caught.value)
        assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument")


# ---- 7. a signed webhook whose event id holds a lone surrogate ---------------------------


def test_a_signed_webhook_with_a_lone_surrogate_is_a_400(http: httpx.Client) -> None:
    body = b'{"id": "evt_\\ud800", "type": "payment_intent.succeeded", "data": {"object": {}}}'
    at = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    response = http.post(
        "/v1/webhooks/stripe",
        content=body,
        headers={"content-type": "application/json", "stripe-signature": f"t={at},v1={mac}"},
    )
    assert response.status_code == 400, response.text
    assert _error_of(response)[0] == "invalid_argument"


# ---- 8. numbers beyond a double ----------------------------------------------------------


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_a_number_beyond_a_double_is_refused_like_nan(
    org: Org, http: httpx.Client, fresh_sim: SimulatorThread, number: str
) -> None:
    body = (
        '{"model": "gpt-5-mini", "start_within": "default", "temperature": ' + number + ", "
        '"messages": [{"role": "user", "content": "hi"}]}'
    )
    response = http.post("/v1/chat/completions", content=body, headers=_headers(org))
    assert response.status_code == 400, response.text
    assert _error_of(response)[0] == "invalid_json"
    assert fresh_sim.records == []  # nothing went upstream, as null or otherwise


# ---- 9. ports, handshakes, tiny deadlines ------------------------------------------------


def test_a_grpc_port_in_use_is_one_line_without_a_traceback(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "flexgrpc.cli", "serve", "--grpc-port", str(port)],
            cwd=tmp_path,
            env={**os.environ, "FLEXGRPC_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_a_connection_that_never_sends_the_http2_preface_is_closed(stack: Stack) -> None:
    with socket.create_connection(("127.0.0.1", stack.process.port)) as silent:
        # A bound for a server that keeps it (grpc-core's own default closes it at 60 s or
        # later), sixty times the configured 0.5 s: a timeout raises and fails the test.
        silent.settimeout(30)
        # The server's SETTINGS may come first; then the close (recv answers b"").
        while silent.recv(4096):
            pass


def test_tiny_deadlines_leave_no_tracebacks_only_json_lines(stack: Stack, org: Org) -> None:
    before = len(stack.process.logs())
    body = (_SURFACE_BODIES["/v1/chat/completions"] % "hi").encode()
    request = route_pb2.CreateChatCompletionRequest(
        body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
    )
    codes: list[grpc.StatusCode] = []

    def calls() -> None:
        with grpc.insecure_channel(stack.process.target) as channel:
            stub = route_pb2_grpc.RouteServiceStub(channel)
            for deadline in (0.001, 0.003, 0.01) * 60:
                try:
                    list(stub.CreateChatCompletion(request, metadata=_metadata(org),
                                                   timeout=deadline))  # fmt: skip
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as error:
                    codes.append(error.code())

    # Concurrent callers: a deadline then often passes while an answer is being sent.
    workers = [threading.Thread(target=calls) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with grpc.insecure_channel(stack.process.target) as channel:
        # One answered call after them: everything before it has been handled and logged.
        stub = route_pb2_grpc.RouteServiceStub(channel)
        list(stub.CreateChatCompletion(request, metadata=_metadata(org), timeout=60))
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED}
    logged = stack.process.logs()[before:]
    assert "ExecuteBatchError" not in logged
    assert "unhandled error" not in logged
    for line in logged.splitlines():
        if line.strip():
            json.loads(line)  # raises on a plain-text traceback line
