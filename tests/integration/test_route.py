"""The Route service over gRPC against the bundled provider simulator (real HTTP upstream)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import grpc
import httpx
import pytest
import sqlalchemy as sa
from flexinference.v1 import route_pb2, route_pb2_grpc, types_pb2
from google.api import httpbody_pb2
from google.protobuf import duration_pb2
from sqlalchemy import orm as sa_orm

from flexgrpc.accounts.store import AccountStore
from flexgrpc.sim import SimConfig, SimulatorThread
from tests.integration.conftest import Caller, new_caller
from tests.richstatus import rich_error
from tests.serverproc import ServerProcess

OPENAI_MODEL = "gpt-5-mini"
GEMINI_MODEL = "gemini-3-flash-preview"
CLAUDE_MODEL = "claude-sonnet-4-5"


def body(**fields: Any) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(fields).encode())


def responses(
    stub: route_pb2_grpc.RouteServiceStub, caller: Caller, timeout: float = 60, **fields: Any
) -> tuple[list[bytes], dict[str, str], Any]:
    call = stub.CreateResponse(
        route_pb2.CreateResponseRequest(body=body(**fields)),
        metadata=caller.metadata,
        timeout=timeout,
    )
    chunks = [m.data for m in call]
    return chunks, dict(call.initial_metadata()), call


def sse_events(chunks: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for chunk in chunks:
        for line in chunk.decode().splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(json.loads(line[6:]))
    return out


def test_flex_wins_and_the_answer_says_flex(stub: Any, org: Caller, sim: SimulatorThread) -> None:
    chunks, metadata, _ = responses(
        stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s"
    )
    answer = json.loads(b"".join(chunks))
    assert answer["object"] == "response"
    assert answer["status"] == "completed"
    assert answer["service_tier"] == "flex"
    assert metadata["x-flexinference-tier"] == "flex"
    assert metadata["x-flexinference-request-id"].startswith("req_")
    (seen,) = sim.records
    assert (seen.service_tier, seen.stream) == ("flex", True)  # flex is always streamed upstream
    assert "start_within" not in seen.body


def test_a_streamed_flex_answer_relays_the_provider_events(stub: Any, org: Caller) -> None:
    chunks, metadata, _ = responses(
        stub, org, model=OPENAI_MODEL, input="hi", stream=True, start_within="00h-00m-30s"
    )
    names = [c.decode().split("\n", 1)[0] for c in chunks]
    assert names[0] == "event: response.created"
    assert names[-1] == "event: response.completed"
    assert metadata["x-flexinference-tier"] == "flex"


def test_flex_refusal_then_a_retry_inside_the_window_wins(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", refusal_rate=1.0)
    result: dict[str, Any] = {}

    def call() -> None:
        result["r"] = responses(
            stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-20s"
        )

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 10
    while not any(r.outcome == "refused" for r in sim.records) and time.monotonic() < deadline:
        time.sleep(0.01)
    sim.config = SimConfig(seed=7)  # capacity is back
    worker.join(30)
    chunks, _, _ = result["r"]
    assert json.loads(b"".join(chunks))["service_tier"] == "flex"
    tiers = [(r.service_tier, r.outcome) for r in sim.records]
    assert tiers[0] == ("flex", "refused")
    assert tiers[-1] == ("flex", "completed")
    assert all(t == "flex" for t, _ in tiers)


def test_flex_that_cannot_start_in_time_falls_back_and_is_cancelled(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")
    started = time.monotonic()
    chunks, metadata, _ = responses(
        stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-05s"
    )
    elapsed = time.monotonic() - started
    answer = json.loads(b"".join(chunks))
    assert answer["service_tier"] == "default"
    assert metadata["x-flexinference-tier"] == "standard"
    flex, standard = sim.records
    assert flex.service_tier == "flex"
    assert flex.outcome == "client_disconnected"  # the router closed it: the provider stops work
    assert standard.service_tier == "default"
    # Fallback was dispatched at the window's end, not before (generous bound: a noisy machine).
    assert standard.arrival_time - flex.arrival_time >= 4.9
    assert flex.disconnect_time is not None
    assert abs(standard.arrival_time - flex.disconnect_time) < 1.0
    assert 5 <= elapsed < 15


def test_a_flex_client_error_reaches_the_caller_without_fallback(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", refusal_rate=1.0, refusal_status=400)
    with pytest.raises(grpc.RpcError) as caught:
        responses(stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s")
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "upstream_error"
    assert error.infos[0].metadata["http_status"] == "400"
    assert [r.service_tier for r in sim.records] == ["flex"]  # standard was never tried


def test_the_caller_cancelling_closes_every_upstream_connection(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")
    call = stub.CreateResponse(
        route_pb2.CreateResponseRequest(
            body=body(model=OPENAI_MODEL, input="hi", start_within="00h-01m-00s")
        ),
        metadata=org.metadata,
        timeout=60,
    )
    deadline = time.monotonic() + 10
    while not sim.records and time.monotonic() < deadline:
        time.sleep(0.01)
    cancelled_at = time.time()
    call.cancel()
    deadline = time.monotonic() + 5
    while sim.records[0].disconnect_time is None and time.monotonic() < deadline:
        time.sleep(0.01)
    (flex,) = sim.records
    assert flex.disconnect_time is not None
    assert flex.disconnect_time - cancelled_at < 0.2


def test_a_caller_deadline_cancels_the_race(stub: Any, org: Caller, sim: SimulatorThread) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")
    with pytest.raises(grpc.RpcError) as caught:
        responses(
            stub, org, timeout=1.0, model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s"
        )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 2
    while sim.records[0].disconnect_time is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.records[0].outcome == "client_disconnected"


def test_a_stream_that_breaks_after_it_started_ends_with_an_in_band_error(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", drop_rate=1.0, token_rate=200)
    call = stub.CreateResponse(
        route_pb2.CreateResponseRequest(
            body=body(model=OPENAI_MODEL, input="hi", stream=True, start_within="00h-00m-30s")
        ),
        metadata=org.metadata,
        timeout=30,
    )
    chunks: list[bytes] = []
    with pytest.raises(grpc.RpcError) as caught:
        chunks.extend(m.data for m in call)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert b"".join(chunks).rsplit(b"\n\n", 2)[-2].startswith(b"event: error\n")  # the last event
    last = sse_events(chunks)[-1]
    assert last["type"] == "error"
    assert "broke off" in last["message"]


def test_served_tier_is_read_from_the_answer_not_assumed(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", serve_tier_instead="standard")
    chunks, metadata, _ = responses(
        stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s"
    )
    assert json.loads(b"".join(chunks))["service_tier"] == "default"
    assert metadata["x-flexinference-tier"] == "standard"


def test_a_non_streamed_flex_answer_equals_the_provider_json(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    for model, method, request_type, extra in (
        (OPENAI_MODEL, "CreateResponse", route_pb2.CreateResponseRequest, {"input": "hi"}),
        (OPENAI_MODEL, "CreateChatCompletion", route_pb2.CreateChatCompletionRequest,
         {"messages": [{"role": "user", "content": "hi"}]}),
        (GEMINI_MODEL, "CreateInteraction", route_pb2.CreateInteractionRequest, {"input": "hi"}),
        (CLAUDE_MODEL, "CreateMessage", route_pb2.CreateMessageRequest,
         {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}),
    ):  # fmt: skip
        sim.reset()
        window = "00h-00m-30s" if not model.startswith("claude") else "default"
        call = getattr(stub, method)(
            request_type(body=body(model=model, start_within=window, **extra)),
            metadata=org.metadata,
            timeout=30,
        )
        routed = json.loads(b"".join(m.data for m in call))
        # The same request number, asked directly and without streaming, of the same simulator.
        sim.reset()
        upstream = sim.records  # noqa: F841 - reset leaves no records
        direct = _direct(sim, model, dict(extra, service_tier=_tier(model, window)))
        assert _without_ids(routed) == _without_ids(direct), method


def _tier(model: str, window: str) -> str:
    if model.startswith("claude"):
        return "standard_only"
    return (
        "flex" if window != "default" else ("standard" if model.startswith("gemini") else "default")
    )


def _direct(sim: SimulatorThread, model: str, fields: dict[str, Any]) -> dict[str, Any]:
    if model.startswith("gemini"):
        path, headers = "/v1beta/interactions", {"x-goog-api-key": "AIza" + "b" * 35}
    elif model.startswith("claude"):
        path, headers = "/v1/messages", {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    elif "messages" in fields:
        path, headers = "/v1/chat/completions", {"authorization": "Bearer k"}
    else:
        path, headers = "/v1/responses", {"authorization": "Bearer k"}
    reply = httpx.post(sim.url + path, json={"model": model, **fields}, headers=headers, timeout=30)
    reply.raise_for_status()
    return dict(reply.json())


_VOLATILE = {"id", "created", "created_at", "completed_at", "updated", "system_fingerprint"}


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_ids(v)
            for k, v in value.items()
            if k not in _VOLATILE and not k.endswith("_id")
        }
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def test_chat_completions_reach_claude_and_gemini_translated(stub: Any, org: Caller) -> None:
    for model in (CLAUDE_MODEL, GEMINI_MODEL):
        window = "default" if model.startswith("claude") else "00h-00m-30s"
        call = stub.CreateChatCompletion(
            route_pb2.CreateChatCompletionRequest(
                body=body(
                    model=model,
                    messages=[
                        {"role": "system", "content": "be brief"},
                        {"role": "user", "content": "hi"},
                    ],
                    start_within=window,
                )
            ),
            metadata=org.metadata,
            timeout=30,
        )
        answer = json.loads(b"".join(m.data for m in call))
        assert answer["object"] == "chat.completion"
        assert answer["choices"][0]["message"]["role"] == "assistant"
        assert answer["choices"][0]["message"]["content"]
        assert answer["usage"]["completion_tokens"] > 0


def test_validation_errors_are_invalid_argument_with_error_info(stub: Any, org: Caller) -> None:
    cases = {
        "missing_model": {"input": "hi", "start_within": "default"},
        "missing_start_within": {"model": OPENAI_MODEL, "input": "hi"},
        "invalid_start_within": {"model": OPENAI_MODEL, "input": "hi", "start_within": "30s"},
        "service_tier_not_allowed": {
            "model": OPENAI_MODEL, "input": "hi", "start_within": "default", "service_tier": "flex"
        },
        "missing_input": {"model": OPENAI_MODEL, "start_within": "default"},
    }  # fmt: skip
    for code, fields in cases.items():
        with pytest.raises(grpc.RpcError) as caught:
            responses(stub, org, **fields)
        error = rich_error(caught.value)
        assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, code)


def test_a_missing_provider_key_is_a_precondition_error(
    stub: Any, routed: tuple[ServerProcess, AccountStore, str]
) -> None:
    caller = new_caller(routed[1], "No Keys Inc")
    with pytest.raises(grpc.RpcError) as caught:
        responses(stub, caller, model=OPENAI_MODEL, input="hi", start_within="default")
    error = rich_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "no_byok_key")


def test_typed_route_returns_the_routing_result(stub: Any, org: Caller) -> None:
    window = duration_pb2.Duration(seconds=30)
    response = stub.Route(
        route_pb2.RouteRequest(
            model=OPENAI_MODEL,
            surface=types_pb2.SURFACE_RESPONSES,
            body=body(input="hi"),
            routing=types_pb2.RoutingControls(flex_window=window),
        ),
        metadata=org.metadata,
        timeout=30,
    )
    assert json.loads(response.body.data)["service_tier"] == "flex"
    result = response.result
    assert result.outcome == types_pb2.RACE_OUTCOME_FLEX_WON
    assert result.served_tier == types_pb2.SERVED_TIER_FLEX
    assert result.flex_attempts == 1
    assert result.request_id.startswith("req_")


def test_typed_stream_route_sends_settled_chunks_then_completed(stub: Any, org: Caller) -> None:
    messages = list(
        stub.StreamRoute(
            route_pb2.StreamRouteRequest(
                model=OPENAI_MODEL,
                surface=types_pb2.SURFACE_CHAT_COMPLETIONS,
                body=body(messages=[{"role": "user", "content": "hi"}]),
                routing=types_pb2.RoutingControls(tier=types_pb2.START_TIER_DEFAULT),
            ),
            metadata=org.metadata,
            timeout=30,
        )
    )
    kinds = [m.WhichOneof("event") for m in messages]
    assert kinds[0] == "settled"
    assert kinds[-1] == "completed"
    assert set(kinds[1:-1]) == {"chunk"}
    assert messages[0].settled.outcome == types_pb2.RACE_OUTCOME_FREE_TIER
    assert messages[-2].chunk.data == b"data: [DONE]\n\n"
    assert messages[-1].completed.served_tier == types_pb2.SERVED_TIER_STANDARD


def _records_of(sessions: sa_orm.sessionmaker[sa_orm.Session], org: str) -> list[Any]:
    from flexgrpc.db.models import UsageRecord

    with sessions() as session:
        return list(
            session.scalars(
                sa.select(UsageRecord)
                .where(UsageRecord.organization_id == org)
                .order_by(UsageRecord.create_time)
            )
        )


def test_every_request_leaves_exactly_one_record(
    stub: Any, org: Caller, sim: SimulatorThread, records: Any
) -> None:
    from flexgrpc.ledger.audit import audit

    _, won_meta, _ = responses(
        stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s"
    )
    _, free_meta, _ = responses(stub, org, model=OPENAI_MODEL, input="hi", start_within="default")
    with pytest.raises(grpc.RpcError):
        responses(stub, org, model=OPENAI_MODEL, input="hi", start_within="nope")
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")
    with pytest.raises(grpc.RpcError):
        responses(
            stub, org, timeout=0.5, model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s"
        )
    _, fell_meta, _ = responses(
        stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-05s"
    )
    time.sleep(0.5)  # the cancelled request is recorded as the server notices the cancellation
    found = _records_of(records, org.organization_id)
    assert [r.outcome for r in found] == [
        "flex_won",
        "free_tier",
        "failed",
        "canceled",
        "fell_back",
    ]
    assert found[0].request_id == won_meta["x-flexinference-request-id"]
    assert found[1].request_id == free_meta["x-flexinference-request-id"]
    assert found[4].request_id == fell_meta["x-flexinference-request-id"]
    assert found[2].error_code == "invalid_start_within"
    assert found[3].error_code == "canceled"
    assert (found[0].served_tier, found[4].served_tier) == ("flex", "standard")
    assert found[4].fallback_after_ms >= 5000
    assert all(r.api_key_id == org.key_id for r in found)
    assert audit(records) == []


def test_a_non_streamed_fixed_tier_answer_is_asked_whole_and_returned_as_sent(
    stub: Any, org: Caller, sim: SimulatorThread, records: Any
) -> None:
    """No start to detect on a fixed tier: the request goes upstream non-streamed, the caller
    gets the provider's answer as it came, and the record is priced from its usage block."""
    cases = (
        (OPENAI_MODEL, "CreateResponse", route_pb2.CreateResponseRequest, {"input": "hi"},
         "default"),
        (OPENAI_MODEL, "CreateChatCompletion", route_pb2.CreateChatCompletionRequest,
         {"messages": [{"role": "user", "content": "hi"}]}, "default"),
        (GEMINI_MODEL, "CreateInteraction", route_pb2.CreateInteractionRequest, {"input": "hi"},
         "default"),
        ("claude-haiku-4-5", "CreateMessage", route_pb2.CreateMessageRequest,
         {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}, "default"),
    )  # fmt: skip
    for model, method, request_type, extra, start_within in cases:
        sim.reset()
        call = getattr(stub, method)(
            request_type(body=body(model=model, start_within=start_within, **extra)),
            metadata=org.metadata,
            timeout=30,
        )
        answer = json.loads(b"".join(m.data for m in call))
        metadata = dict(call.initial_metadata())
        (seen,) = sim.records
        assert seen.stream is False, method
        assert "stream_options" not in seen.body, method
        served = answer.get("service_tier") or answer["usage"].get("service_tier")
        assert served == seen.served_tier, method
        assert metadata["x-flexinference-tier"] == "standard", method
        record = _records_of(records, org.organization_id)[-1]
        assert record.request_id == metadata["x-flexinference-request-id"]
        assert (record.outcome, record.priced) == ("free_tier", True), method
        assert record.actual_nano_usd > 0, method
        micro_usd = int(metadata["x-flexinference-cost"])
        assert abs(record.actual_nano_usd - micro_usd * 1000) < 1000, method
    response_usage = _records_of(records, org.organization_id)[0]
    assert response_usage.output_tokens > 0


def test_streams_and_flex_races_go_upstream_streamed(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    list(stub.CreateResponse(route_pb2.CreateResponseRequest(body=body(
        model=OPENAI_MODEL, input="hi", start_within="default", stream=True)),
        metadata=org.metadata, timeout=30))  # fmt: skip
    list(stub.CreateResponse(route_pb2.CreateResponseRequest(body=body(
        model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s")),
        metadata=org.metadata, timeout=30))  # fmt: skip
    assert [(r.surface, r.stream) for r in sim.records] == [
        ("responses", True),
        ("responses", True),
    ]


def test_a_translated_whole_answer_on_a_fixed_tier_goes_upstream_whole(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    """A fixed tier has no start to detect, so a translated pair asks the provider for its
    non-streamed answer as a native one does, and translates that."""
    chat = [{"role": "user", "content": "hi"}]
    calls = (
        (stub.CreateChatCompletion, route_pb2.CreateChatCompletionRequest,
         {"model": CLAUDE_MODEL, "messages": chat}, "messages"),
        (stub.CreateChatCompletion, route_pb2.CreateChatCompletionRequest,
         {"model": GEMINI_MODEL, "messages": chat}, "interactions"),
        (stub.CreateMessage, route_pb2.CreateMessageRequest,
         {"model": OPENAI_MODEL, "messages": chat, "max_tokens": 64}, "chat_completions"),
    )  # fmt: skip
    for method, request, fields, upstream in calls:
        sim.reset()
        call = method(request(body=body(**fields, start_within="default")),
                      metadata=org.metadata, timeout=30)  # fmt: skip
        answer = json.loads(b"".join(m.data for m in call))
        (seen,) = sim.records
        assert (seen.surface, seen.stream) == (upstream, False)
        if method is stub.CreateMessage:
            assert answer["type"] == "message"
            assert answer["content"][0]["text"]
            assert answer["usage"]["output_tokens"] > 0
        else:
            assert answer["object"] == "chat.completion"
            assert answer["choices"][0]["message"]["content"]
            assert answer["usage"]["completion_tokens"] > 0


def test_each_fixed_tier_reaches_the_provider_as_its_own_service_tier(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    """The tier table that runs (SPEC §2.1): what the provider is sent for each fixed tier,
    read off the simulator, including Anthropic's ``priority`` sent as ``auto``."""
    expected = {
        (OPENAI_MODEL, "default"): "default",
        (OPENAI_MODEL, "priority"): "priority",
        (OPENAI_MODEL, "auto"): "auto",
        (GEMINI_MODEL, "default"): "standard",
        (GEMINI_MODEL, "priority"): "priority",
        (CLAUDE_MODEL, "default"): "standard_only",
        (CLAUDE_MODEL, "priority"): "auto",
        (CLAUDE_MODEL, "auto"): "auto",
    }
    sent = {}
    for model, start_within in expected:
        sim.reset()
        if model.startswith("claude"):
            method, request_type = "CreateMessage", route_pb2.CreateMessageRequest
            extra: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}],
                                     "max_tokens": 16}  # fmt: skip
        elif model.startswith("gemini"):
            method, request_type = "CreateInteraction", route_pb2.CreateInteractionRequest
            extra = {"input": "hi"}
        else:
            method, request_type = "CreateResponse", route_pb2.CreateResponseRequest
            extra = {"input": "hi"}
        list(getattr(stub, method)(
            request_type(body=body(model=model, start_within=start_within, **extra)),
            metadata=org.metadata, timeout=30,
        ))  # fmt: skip
        (seen,) = sim.records
        sent[(model, start_within)] = seen.service_tier
    assert sent == expected
