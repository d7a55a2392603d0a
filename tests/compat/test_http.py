"""The REST shim at the HTTP level (httpx and raw sockets): headers, framing, limits, errors."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import openai
import pytest
from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2

from flexgrpc.sim import SimConfig, SimulatorThread
from tests.compat.conftest import (
    OPENAI_MODEL,
    WINDOW,
    Org,
    RestServer,
    new_org,
    open_store,
    server_env,
    start_rest_server,
)

CHAT = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json"}


def auth(org: Org) -> dict[str, str]:
    return {"authorization": f"Bearer {org.api_key}", **JSON}


@pytest.fixture
def http(rest: RestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rest.url, timeout=60) as client:
        yield client


# ---- answers and headers ------------------------------------------------------------------


def test_a_whole_answer_has_its_length_and_the_routing_headers(
    http: httpx.Client, org: Org
) -> None:
    reply = http.post(
        "/v1/chat/completions", json={**CHAT, "start_within": WINDOW}, headers=auth(org)
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert int(reply.headers["content-length"]) == len(reply.content)
    assert reply.headers["x-flexinference-tier"] == "flex"
    assert reply.headers["x-flexinference-request-id"].startswith("req_")
    assert reply.json()["service_tier"] == "flex"


def test_headers_are_sent_only_once_the_race_has_settled(
    http: httpx.Client, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:2s")
    body = {**CHAT, "stream": True, "start_within": WINDOW}
    started = time.monotonic()
    with http.stream("POST", "/v1/chat/completions", json=body, headers=auth(org)) as reply:
        headers_after = time.monotonic() - started
        assert reply.headers["x-flexinference-tier"] == "flex"
        reply.read()
    assert headers_after >= 1.9


def test_the_x_api_key_header_authenticates(http: httpx.Client, org: Org) -> None:
    headers = {"x-api-key": org.api_key, "anthropic-version": "2023-06-01", **JSON}
    body = {"model": "claude-sonnet-4-5", "max_tokens": 32, **CHAT, "start_within": "default"}
    body["model"] = "claude-sonnet-4-5"
    reply = http.post("/v1/messages", json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["type"] == "message"


# ---- server-sent events ---------------------------------------------------------------------


def _frames(data: bytes) -> list[bytes]:
    assert data.endswith(b"\n\n"), data[-80:]
    return [frame + b"\n\n" for frame in data[:-2].split(b"\n\n")]


_VOLATILE = {"id", "created", "created_at", "system_fingerprint"}


def _normalised(frame: bytes) -> list[Any]:
    lines = []
    for line in frame.decode().split("\n"):
        if line.startswith("data: {"):
            data = json.loads(line[6:])
            lines.append(_strip(data))
        else:
            lines.append(line)
    return lines


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _grpc_messages(rest: RestServer, org: Org, method: str, body: dict[str, Any]) -> list[bytes]:
    request_type = {
        "CreateChatCompletion": route_pb2.CreateChatCompletionRequest,
        "CreateResponse": route_pb2.CreateResponseRequest,
    }[method]
    http_body = httpbody_pb2.HttpBody(
        content_type="application/json", data=json.dumps(body).encode()
    )
    with grpc.insecure_channel(rest.grpc_target) as channel:
        call = getattr(route_pb2_grpc.RouteServiceStub(channel), method)
        metadata = (("authorization", f"Bearer {org.api_key}"),)
        return [m.data for m in call(request_type(body=http_body), metadata=metadata, timeout=30)]


@pytest.mark.parametrize(
    ("path", "method", "extra"),
    [
        ("/v1/chat/completions", "CreateChatCompletion", {"messages": CHAT["messages"]}),
        ("/v1/responses", "CreateResponse", {"input": "hi"}),
    ],
)
def test_sse_frames_are_the_grpc_messages_byte_for_byte(
    http: httpx.Client,
    rest: RestServer,
    org: Org,
    sim: SimulatorThread,
    path: str,
    method: str,
    extra: dict[str, Any],
) -> None:
    body = {"model": OPENAI_MODEL, "stream": True, "start_within": WINDOW, **extra}
    reply = http.post(path, json=body, headers=auth(org))
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["cache-control"] == "no-cache"
    assert "content-length" not in reply.headers
    frames = _frames(reply.content)
    sim.reset()  # the same request number again: the same seeded answer
    messages = _grpc_messages(rest, org, method, body)
    assert all(m.endswith(b"\n\n") for m in messages)  # whole events, several when together
    relayed = _frames(b"".join(messages))
    assert len(frames) == len(relayed)
    assert [_normalised(f) for f in frames] == [_normalised(m) for m in relayed]
    if method == "CreateChatCompletion":
        assert all(f.startswith(b"data: ") and f.count(b"\n") == 2 for f in frames)
        assert frames[-1] == b"data: [DONE]\n\n"
    else:
        for frame in frames:
            event, data = frame.decode().split("\n")[:2]
            assert event.startswith("event: ")
            assert json.loads(data[6:])["type"] == event[7:]
        assert frames[-1].startswith(b"event: response.completed\n")


def test_events_are_flushed_as_they_arrive(
    http: httpx.Client, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", token_rate=40.0, output_tokens=40)
    body = {**CHAT, "stream": True, "start_within": "default"}
    arrivals: list[float] = []
    with http.stream("POST", "/v1/chat/completions", json=body, headers=auth(org)) as reply:
        for _ in reply.iter_raw():
            arrivals.append(time.monotonic())
    assert len(arrivals) >= 10  # not one buffered write
    assert arrivals[-1] - arrivals[0] >= 0.5  # spread over the generation, not at its end


def test_a_stream_that_breaks_ends_with_an_in_band_error_event(
    http: httpx.Client, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", drop_rate=1.0)
    body = {"model": OPENAI_MODEL, "input": "hi", "stream": True, "start_within": "default"}
    reply = http.post("/v1/responses", json=body, headers=auth(org))
    assert reply.status_code == 200
    event, data = _frames(reply.content)[-1].decode().split("\n")[:2]
    assert event == "event: error"
    assert json.loads(data[6:])["code"] == "upstream_stream_broken"


def test_a_client_that_leaves_cancels_the_race_upstream(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")
    body = json.dumps({**CHAT, "start_within": "00h-01m-00s"}).encode()
    with socket.create_connection(("127.0.0.1", rest.http_port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {org.api_key}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        deadline = time.monotonic() + 10
        while not sim.records and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sim.records, "the flex request never reached the provider"
    closed = time.monotonic()
    (flex,) = sim.records
    while flex.outcome is None and time.monotonic() < closed + 10:
        time.sleep(0.02)
    assert flex.outcome == "client_disconnected"
    assert flex.disconnect_time is not None
    assert len(sim.records) == 1  # and no standard fallback was started


def test_google_s_server_timeout_header_is_the_call_s_deadline(
    http: httpx.Client, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")
    body = {"model": "gemini-3-flash-preview", "input": "hi", "start_within": WINDOW}
    started = time.monotonic()
    reply = http.post("/v1/interactions", json=body, headers={**auth(org), "x-server-timeout": "1"})
    assert time.monotonic() - started < 10
    assert reply.status_code == 504
    error = reply.json()["error"]
    assert (error["code"], error["status"]) == (504, "DEADLINE_EXCEEDED")


# ---- limits -------------------------------------------------------------------------------


def _raw_exchange(rest: RestServer, head: bytes, body: bytes = b"", wait: float = 10) -> bytes:
    """Send ``head`` (+ ``body``), then read what comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", rest.http_port), timeout=wait) as conn:
        conn.sendall(head + body)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


def _split(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    rest: RestServer, org: Org
) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 1000001\r\n\r\n"
    )
    started = time.monotonic()
    status, headers, body = _split(_raw_exchange(rest, head))  # no body sent at all
    assert time.monotonic() - started < 5  # answered, and closed, without waiting for it
    assert status == 413
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_too_large"
    assert body["error"]["type"] == "invalid_request_error"


def test_an_over_long_body_is_refused_on_declared_length_and_on_bytes_read(
    http: httpx.Client, org: Org
) -> None:
    declared = http.post("/v1/responses", content=b" " * 1_000_001, headers=auth(org))
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "request_too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(20):
            yield b" " * 100_000

    streamed = http.post("/v1/messages", content=chunked(), headers=auth(org))
    assert streamed.status_code == 413
    assert streamed.json() == {
        "type": "error",
        "error": {"type": "request_too_large", "message": streamed.json()["error"]["message"]},
    }
    # The limit is inclusive: exactly 1,000,000 bytes is read and judged as JSON.
    padded = json.dumps({**CHAT, "start_within": "default"}).encode()
    padded += b" " * (1_000_000 - len(padded))
    exact = http.post("/v1/chat/completions", content=padded, headers=auth(org))
    assert exact.status_code == 200, exact.text


def test_a_stalled_upload_times_out(rest: RestServer) -> None:
    head = (
        b"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n"
    )
    started = time.monotonic()
    status, headers, body = _split(_raw_exchange(rest, head, b'{"model": '))
    assert 1.4 <= time.monotonic() - started < 8  # FLEXGRPC_HTTP_BODY_TIMEOUT_S=1.5 here
    assert status == 408
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_timeout"


def test_headers_that_never_finish_lose_their_connection(
    tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread
) -> None:
    home = tmp_path_factory.mktemp("slow-headers")
    env = server_env(home, sim, FLEXGRPC_HTTP_HEADER_TIMEOUT_S="1")
    org = new_org(open_store(env))
    process, port = start_rest_server(home, env)

    def closed_after(conn: socket.socket, *dribble: bytes) -> float:
        """Send ``dribble`` a piece every 0.3 s; seconds until the server closes."""
        started = time.monotonic()
        try:
            for piece in dribble:
                conn.sendall(piece)
                time.sleep(0.3)
            while conn.recv(65536):
                pass
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed by the server while we were still sending
        return time.monotonic() - started

    try:
        # Silent after connecting, and a slowloris sending a header a few bytes at a time: each
        # keeps its connection only until the header deadline (1 s here), whatever it sends.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
            assert 0.9 <= closed_after(silent) < 5
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slowloris:
            pieces = [b"POST /v1/responses HTTP/1.1\r\n", b"host: x\r\n"] + [b"x-a: b\r\n"] * 10
            assert 0.9 <= closed_after(slowloris, *pieces) < 5
        # Requests whose headers arrive in time are served, the second one on the same
        # kept-alive connection too.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(2):
                reply = client.post(
                    "/v1/chat/completions",
                    json={**CHAT, "start_within": "default"},
                    headers=auth(org),
                )
                assert reply.status_code == 200, reply.text
    finally:
        process.stop()


# ---- malformed requests -------------------------------------------------------------------


def test_malformed_json_is_invalid_json_in_the_surface_envelope(
    http: httpx.Client, org: Org
) -> None:
    chat = http.post("/v1/chat/completions", content=b'{"model": ', headers=auth(org))
    assert chat.status_code == 400
    assert chat.json()["error"]["code"] == "invalid_json"
    messages = http.post("/v1/messages", content=b"[1, 2", headers=auth(org))
    assert messages.status_code == 400
    assert messages.json()["type"] == "error"
    typed = http.post("/v1/route", content=b"{nope", headers=auth(org))
    assert typed.status_code == 400
    error = typed.json()["error"]
    assert (error["status"], error["details"][0]["reason"]) == ("INVALID_ARGUMENT", "invalid_json")


def test_a_non_json_content_type_is_refused(http: httpx.Client, org: Org) -> None:
    reply = http.post(
        "/v1/responses",
        content=b"model=gpt-5-mini",
        headers={"authorization": f"Bearer {org.api_key}", "content-type": "text/plain"},
    )
    assert reply.status_code == 415
    assert reply.json()["error"]["code"] == "unsupported_media_type"


def test_unknown_paths_and_methods(http: httpx.Client) -> None:
    missing = http.post("/v1/embeddings", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND"
    wrong = http.get("/v1/chat/completions")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["code"] == "method_not_allowed"  # OpenAI shape on an OpenAI path
    typed_wrong = http.delete("/v1/organizations/-")
    assert typed_wrong.status_code == 405
    assert typed_wrong.headers["allow"] == "GET, PATCH"


# ---- typed RPCs ---------------------------------------------------------------------------


def test_get_organization_over_rest(http: httpx.Client, org: Org) -> None:
    reply = http.get("/v1/organizations/-", headers={"x-goog-api-key": org.api_key})
    assert reply.status_code == 200
    organization = reply.json()
    assert organization["name"] == f"organizations/{org.organization_id}"
    assert organization["displayName"] == "Compat Co"
    assert "createTime" in organization  # lowerCamelCase out


def test_typed_errors_use_the_google_shape(http: httpx.Client, org: Org) -> None:
    anonymous = http.get("/v1/organizations/-")
    assert anonymous.status_code == 401
    error = anonymous.json()["error"]
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
    assert error["details"][0] == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "missing_api_key",
        "domain": "flexinference.v1",
    }
    other = http.get("/v1/organizations/org_0000000000000000", headers=auth(org))
    assert other.status_code == 403
    assert other.json()["error"]["status"] == "PERMISSION_DENIED"


def test_query_parameters_fill_typed_fields_in_either_spelling(
    http: httpx.Client, org: Org, rest: RestServer
) -> None:
    rest.store.create_api_key(org.organization_id)
    path = f"/v1/organizations/{org.organization_id}/apiKeys"
    for name in ("pageSize", "page_size"):
        first = http.get(path, params={name: "1"}, headers=auth(org)).json()
        assert len(first["apiKeys"]) == 1
        assert first["nextPageToken"]
    bad = http.get(path, params={"pageSize": "many"}, headers=auth(org))
    assert bad.status_code == 400
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"


# ---- the loopback transport ------------------------------------------------------------------


def test_the_loopback_transport_answers_like_the_in_process_one(
    tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread, http: httpx.Client, org: Org
) -> None:
    """FLEXGRPC_REST_TRANSPORT=loopback: the same answers, headers, streams and errors."""
    home = tmp_path_factory.mktemp("loopback")
    env = server_env(home, sim, FLEXGRPC_REST_TRANSPORT="loopback")
    other = new_org(open_store(env))
    process, port = start_rest_server(home, env)
    requests: list[tuple[dict[str, Any], dict[str, str] | None]] = [
        ({**CHAT, "start_within": WINDOW}, None),
        ({**CHAT, "start_within": "default", "stream": True}, None),
        ({**CHAT, "start_within": "00h-00m-01s"}, None),  # invalid_start_within
        ({**CHAT, "start_within": "default"}, {"authorization": "Bearer flex_live_nope"}),
    ]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as loopback:
            for body, headers in requests:
                answers = [
                    client.post("/v1/chat/completions", json=body, headers=headers or auth(who))
                    for client, who in ((http, org), (loopback, other))
                ]
                in_process, over_loopback = answers
                assert over_loopback.status_code == in_process.status_code
                assert over_loopback.headers["content-type"] == in_process.headers["content-type"]
                tier = "x-flexinference-tier"
                assert over_loopback.headers.get(tier) == in_process.headers.get(tier)
                # The cost depends on the simulated answer's length; it is there or not alike.
                cost = "x-flexinference-cost"
                assert (cost in over_loopback.headers) == (cost in in_process.headers)
                if in_process.status_code != 200:
                    assert over_loopback.json() == in_process.json()
                elif body.get("stream"):
                    assert over_loopback.text.endswith("data: [DONE]\n\n")
                    assert in_process.text.endswith("data: [DONE]\n\n")
                else:
                    assert over_loopback.json()["service_tier"] == in_process.json()["service_tier"]
    finally:
        process.stop()


# ---- the failed-authentication limit, per HTTP client ---------------------------------------


def test_failed_authentications_are_limited_per_http_client_with_retry_after(
    tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread
) -> None:
    home = tmp_path_factory.mktemp("limited")
    env = server_env(home, sim, FLEXGRPC_AUTH_FAILURES_PER_MINUTE="2")
    open_store(env)
    process, port = start_rest_server(home, env)

    def api(source: str) -> openai.OpenAI:
        transport = httpx.HTTPTransport(local_address=source)
        return openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key="flex_live_" + "0" * 30,
            max_retries=0,
            http_client=httpx.Client(transport=transport),
        )

    def call(client: openai.OpenAI) -> None:
        client.chat.completions.create(model=OPENAI_MODEL, messages=[], extra_body={})

    try:
        first = api("127.0.0.1")
        for _ in range(2):
            with pytest.raises(openai.AuthenticationError):
                call(first)
        with pytest.raises(openai.RateLimitError) as caught:
            call(first)
        assert caught.value.code == "rate_limit_exceeded"
        assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
        # Another HTTP client (another loopback address) has its own allowance: the shim passes
        # the client's address to the limiter, not its own.
        with pytest.raises(openai.AuthenticationError):
            call(api("127.0.0.2"))
    finally:
        process.stop()


def test_a_new_organization_can_call_at_once(rest: RestServer, http: httpx.Client) -> None:
    fresh = new_org(rest.store, "Fresh")
    reply = http.post(
        "/v1/chat/completions", json={**CHAT, "start_within": "default"}, headers=auth(fresh)
    )
    assert reply.status_code == 200
