"""GenerateContent, StreamGenerateContent and the counting RPCs over gRPC, against the bundled
provider simulator: the model comes in its own field, the body is Gemini's JSON."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from flexinference.v1 import route_pb2, types_pb2

from flexgrpc.sim import SimConfig, SimulatorThread
from tests.integration.conftest import Caller
from tests.integration.test_route import CLAUDE_MODEL, GEMINI_MODEL, OPENAI_MODEL, body, sse_events
from tests.richstatus import rich_error

CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]
WINDOW = "00h-00m-30s"


def test_generate_content_with_typed_routing(stub: Any, org: Caller, sim: SimulatorThread) -> None:
    call = stub.GenerateContent(
        route_pb2.GenerateContentRequest(
            model=f"models/{GEMINI_MODEL}",
            body=body(contents=CONTENTS),
            routing=types_pb2.RoutingControls(flex_window={"seconds": 30}),
        ),
        metadata=org.metadata,
        timeout=30,
    )
    answer = json.loads(b"".join(m.data for m in call))
    assert answer["candidates"][0]["finishReason"] == "STOP"
    metadata = dict(call.initial_metadata())
    assert metadata["x-flexinference-tier"] == "flex"
    assert int(metadata["x-flexinference-cost"]) > 0
    (seen,) = sim.records
    assert seen.service_tier == "flex"
    assert "model" not in seen.body
    assert "stream" not in seen.body


def test_stream_generate_content_sse_and_array(stub: Any, org: Caller) -> None:
    request = route_pb2.StreamGenerateContentRequest(
        model=GEMINI_MODEL, body=body(contents=CONTENTS, start_within=WINDOW), alt="sse"
    )
    call = stub.StreamGenerateContent(request, metadata=org.metadata, timeout=30)
    chunks = [m.data for m in call]
    assert all(m.startswith(b"data: ") for m in chunks)
    events = sse_events(chunks)
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert int(dict(call.trailing_metadata())["x-flexinference-cost"]) > 0

    request.alt = ""
    array = b"".join(m.data for m in stub.StreamGenerateContent(request, metadata=org.metadata))
    parsed = json.loads(array)
    assert [c["candidates"][0].get("finishReason") for c in parsed][-1] == "STOP"
    assert len(parsed) == len(events)


def test_a_stream_that_breaks_ends_with_google_s_error_in_band(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", drop_rate=1.0, token_rate=200)
    call = stub.StreamGenerateContent(
        route_pb2.StreamGenerateContentRequest(
            model=GEMINI_MODEL, body=body(contents=CONTENTS, start_within=WINDOW), alt="sse"
        ),
        metadata=org.metadata,
        timeout=30,
    )
    chunks: list[bytes] = []
    with pytest.raises(grpc.RpcError) as caught:
        chunks.extend(m.data for m in call)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    last = sse_events(chunks)[-1]
    assert last["error"]["status"] == "INTERNAL"
    assert "broke off" in last["error"]["message"]
    assert last["error"]["details"][0]["reason"] == "upstream_stream_broken"


@pytest.mark.parametrize("model", [OPENAI_MODEL, CLAUDE_MODEL])
def test_a_translated_stream_that_breaks_ends_with_google_s_error_in_band(
    stub: Any, org: Caller, sim: SimulatorThread, model: str
) -> None:
    tier = "standard" if model == CLAUDE_MODEL else "flex"
    sim.config = SimConfig(seed=7).with_tier(tier, drop_rate=1.0, token_rate=200)
    within = "default" if model == CLAUDE_MODEL else WINDOW
    call = stub.StreamGenerateContent(
        route_pb2.StreamGenerateContentRequest(
            model=model, body=body(contents=CONTENTS, start_within=within), alt="sse"
        ),
        metadata=org.metadata,
        timeout=30,
    )
    chunks: list[bytes] = []
    with pytest.raises(grpc.RpcError):
        chunks.extend(m.data for m in call)
    assert "error" in sse_events(chunks)[-1]


def test_missing_contents_is_invalid_argument(stub: Any, org: Caller) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        list(
            stub.GenerateContent(
                route_pb2.GenerateContentRequest(
                    model=GEMINI_MODEL, body=body(contents=[], start_within=WINDOW)
                ),
                metadata=org.metadata,
                timeout=30,
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value).reason == "missing_contents"


def test_what_an_openai_model_cannot_express_is_unsupported_feature(stub: Any, org: Caller) -> None:
    config = {"topK": 5, "candidateCount": 2}
    with pytest.raises(grpc.RpcError) as caught:
        list(
            stub.GenerateContent(
                route_pb2.GenerateContentRequest(
                    model=OPENAI_MODEL,
                    body=body(contents=CONTENTS, generationConfig=config, start_within=WINDOW),
                ),
                metadata=org.metadata,
                timeout=30,
            )
        )
    assert rich_error(caught.value).reason == "unsupported_feature"
    assert "candidateCount" in (caught.value.details() or "")


def test_count_gemini_tokens(stub: Any, org: Caller) -> None:
    counted = stub.CountGeminiTokens(
        route_pb2.CountGeminiTokensRequest(model=GEMINI_MODEL, body=body(contents=CONTENTS)),
        metadata=org.metadata,
        timeout=30,
    )
    assert json.loads(counted.data)["totalTokens"] > 0


def test_count_message_tokens(stub: Any, org: Caller) -> None:
    counted = stub.CountMessageTokens(
        route_pb2.CountMessageTokensRequest(
            body=body(model=CLAUDE_MODEL, messages=[{"role": "user", "content": "hi"}])
        ),
        metadata=org.metadata,
        timeout=30,
    )
    assert json.loads(counted.data)["input_tokens"] > 0


def test_typed_route_speaks_generate_content(stub: Any, org: Caller) -> None:
    routed = stub.Route(
        route_pb2.RouteRequest(
            model=GEMINI_MODEL,
            surface=types_pb2.SURFACE_GENERATE_CONTENT,
            body=body(contents=CONTENTS),
            routing=types_pb2.RoutingControls(tier=types_pb2.START_TIER_DEFAULT),
        ),
        metadata=org.metadata,
        timeout=30,
    )
    assert json.loads(routed.body.data)["candidates"][0]["finishReason"] == "STOP"
    assert routed.result.served_tier == types_pb2.SERVED_TIER_STANDARD
    assert routed.result.cost.actual_micro_usd > 0


def test_the_path_decides_the_model_and_the_rpc_the_streaming(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    call = stub.GenerateContent(
        route_pb2.GenerateContentRequest(
            model=GEMINI_MODEL,
            body=body(model="gemini-other", stream=True, contents=CONTENTS, start_within="default"),
        ),
        metadata=org.metadata,
        timeout=30,
    )
    answer = json.loads(b"".join(m.data for m in call))
    assert answer["modelVersion"] == GEMINI_MODEL
    (seen,) = sim.records
    assert (seen.model, seen.stream) == (GEMINI_MODEL, False)
