"""The native generateContent pair, on the simulator's own answers (its documented shapes): the
stream read back into the whole response, start classification, the served tier, usage."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from flexgrpc.domain import Provider, RouteJob, StartWithin, Surface, UpstreamTier
from flexgrpc.pricing.usage import UsageFormat, normalise_usage, usage_format_for
from flexgrpc.providers.generate_content import GenerateContentAdapter, GenerateContentReader
from flexgrpc.providers.reading import EventKind
from flexgrpc.providers.sse import SseEvent, SseParser
from flexgrpc.sim.config import SimConfig
from flexgrpc.sim.generation import Generation, draw, request_rng
from flexgrpc.sim.wire.gemini_generate_content import GeminiGenerateContent

MODEL = "gemini-3-flash-preview"
WEATHER = {"type": "object", "properties": {"location": {"type": "string"}}}


def generation(number: int, body: dict[str, Any]) -> Generation:
    wire = GeminiGenerateContent("", MODEL, stream=True, sse=True)
    config = SimConfig()
    _, answer = draw(
        request_rng(seed=7, number=number),
        config,
        config.behavior("gemini", "standard"),
        provider="gemini",
        model=MODEL,
        body=body,
        raw_body_size=random.Random(number).randint(40, 4_000),
        requested_tier=None,
        canonical_tier="standard",
        max_tokens=None,
        created=1_790_000_000.0,
        ask=wire.ask(body),
    )
    return answer


def stream_events(answer: Generation) -> list[SseEvent]:
    wire = GeminiGenerateContent("", MODEL, stream=True, sse=True)
    parser = SseParser()
    found = [event for frame in wire.stream_frames(answer) for event in parser.feed(frame.data)]
    last = parser.close()
    return [*found, *([last] if last else [])]


BODIES = {
    "text": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    "thoughts": {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}},
    },
    "tool": {
        "contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": WEATHER}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    },
}


@pytest.mark.parametrize("kind", list(BODIES))
@pytest.mark.parametrize("number", range(1, 21))
def test_a_stream_reads_back_to_the_whole_response(kind: str, number: int) -> None:
    body = BODIES[kind]
    answer = generation(number, body)
    whole = GeminiGenerateContent("", MODEL, stream=False, sse=False).final_body(answer)
    reader = GenerateContentReader()
    kinds = [reader.feed(event) for event in stream_events(answer)]
    assert kinds[0] in (EventKind.OUTPUT, EventKind.TERMINAL)  # no acknowledgements: the start
    assert kinds[-1] is EventKind.TERMINAL
    assert reader.finished
    assert reader.usage_final
    assert reader.answer() == whole
    if kind == "tool":
        assert "functionCall" in whole["candidates"][0]["content"]["parts"][0]


@pytest.mark.parametrize("number", range(1, 201))
def test_usage_metadata_normalises_to_the_generated_tokens(number: int) -> None:
    answer = generation(number, BODIES["text"])
    body = GeminiGenerateContent("", MODEL, stream=False, sse=False).final_body(answer)
    usage = normalise_usage(UsageFormat.GEMINI_GENERATE_CONTENT, body["usageMetadata"])
    assert usage.complete
    assert usage.prompt_tokens == answer.input_tokens
    assert usage.cached_input == answer.cached_tokens
    assert usage.output == answer.output_tokens + answer.reasoning_tokens
    assert usage.reasoning == answer.reasoning_tokens
    assert usage.input_modalities == frozenset()


def test_usage_format_is_generate_content_only_for_the_native_pair() -> None:
    assert (
        usage_format_for(Provider.GEMINI, Surface.GENERATE_CONTENT)
        is UsageFormat.GEMINI_GENERATE_CONTENT
    )
    assert usage_format_for(Provider.GEMINI, Surface.MESSAGES) is UsageFormat.GEMINI_INTERACTIONS


def test_an_error_chunk_is_an_error() -> None:
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    data = json.dumps(error)
    assert GenerateContentReader().feed(SseEvent("", data, data.encode())) is EventKind.ERROR


def job(stream: bool) -> RouteJob:
    return RouteJob(
        request_id="req_1",
        surface=Surface.GENERATE_CONTENT,
        model=MODEL,
        provider=Provider.GEMINI,
        routes=(),
        start_within=StartWithin(window_ms=30_000),
        stream=stream,
        body={"model": MODEL, "stream": stream, "contents": [{"parts": [{"text": "hi"}]}]},
        retry=None,
        include_cost=False,
        received_at=0.0,
    )


@pytest.mark.parametrize(
    ("stream", "path"),
    [
        (True, f"/models/{MODEL}:streamGenerateContent?alt=sse"),
        (False, f"/models/{MODEL}:generateContent"),
    ],
)
def test_the_upstream_request_names_the_model_in_the_path_and_the_tier_in_the_body(
    stream: bool, path: str
) -> None:
    request = GenerateContentAdapter().build(job(stream), UpstreamTier.FLEX, "AIza", stream=stream)
    assert request.path == path
    assert request.headers["x-goog-api-key"] == "AIza"
    assert json.loads(request.body) == {
        "contents": [{"parts": [{"text": "hi"}]}],
        "serviceTier": "flex",
    }
