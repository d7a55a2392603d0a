"""Every wire format through the intermediate form, on recorded sequences (tests/fixtures/sse).

Upstream decoders: a provider's recorded stream adds up to the answer its non-streamed reader
gives, and a provider's error event becomes an in-band failure. Caller encoders: each writes its
surface's documented terminal events, and never lets a truncated or failed answer look whole.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from flexgrpc.errors import FlexError
from flexgrpc.providers.sse import SseEvent, SseParser
from flexgrpc.providers.translate.chat import ChatCaller, ChatUpstream
from flexgrpc.providers.translate.formats import CallerFormat, UpstreamFormat
from flexgrpc.providers.translate.generate_content import GenerateContentCaller
from flexgrpc.providers.translate.interactions import InteractionsCaller, InteractionsUpstream
from flexgrpc.providers.translate.ir import (
    AnswerBuilder,
    Failed,
    Finished,
    FinishReason,
    Started,
    TextDelta,
    ToolArgumentsDelta,
    ToolCallStarted,
    Usage,
)
from flexgrpc.providers.translate.messages import MessagesCaller, MessagesUpstream
from flexgrpc.providers.translate.responses import ResponsesCaller
from flexgrpc.providers.translated import translate_request

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "sse"


def events(name: str) -> list[SseEvent]:
    parser = SseParser()
    found = parser.feed(FIXTURES.joinpath(name).read_bytes())
    last = parser.close()
    return [*found, *([last] if last else [])]


UPSTREAMS = {
    "openai_chat_text.sse": ChatUpstream(),
    "openai_chat_tool_calls.sse": ChatUpstream(),
    "anthropic_messages_text.sse": MessagesUpstream(),
    "anthropic_messages_tool_use.sse": MessagesUpstream(),
    "gemini_interactions_text.sse": InteractionsUpstream(),
    "gemini_interactions_function_call.sse": InteractionsUpstream(),
    "gemini_interactions_thought.sse": InteractionsUpstream(),
}


@pytest.mark.parametrize("fixture", list(UPSTREAMS))
def test_a_recorded_stream_decodes_to_a_finished_answer(fixture: str) -> None:
    upstream = UPSTREAMS[fixture]
    decoder = upstream.decoder()
    builder = AnswerBuilder()
    decoded = [e for event in events(fixture) for e in decoder.feed(event)]
    for event in decoded:
        builder.add(event)
    answer = builder.answer()
    assert isinstance(decoded[0], Started)
    assert isinstance(decoded[-1], Finished)
    assert answer.usage.output > 0
    if "tool" in fixture or "function" in fixture:
        assert answer.finish is FinishReason.TOOL_CALLS
        assert answer.tool_calls
        for call in answer.tool_calls:
            assert isinstance(json.loads(call.arguments), dict)
    else:
        assert answer.text


def error_event(name: str, data: dict[str, Any]) -> SseEvent:
    return SseEvent(name, json.dumps(data), b"")


ERROR_EVENTS: list[tuple[UpstreamFormat, SseEvent]] = [
    (ChatUpstream(), error_event("", {"error": {"message": "boom", "code": "server_error"}})),
    (MessagesUpstream(), error_event(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "boom"}})),
    (InteractionsUpstream(), error_event(
        "error", {"event_type": "error", "error": {"code": "unavailable", "message": "boom"}})),
]  # fmt: skip


@pytest.mark.parametrize(("upstream", "event"), ERROR_EVENTS)
def test_a_providers_error_event_is_a_failure(upstream: UpstreamFormat, event: SseEvent) -> None:
    (failure,) = upstream.decoder().feed(event)
    assert isinstance(failure, Failed)
    assert failure.message == "boom"


CALLERS: dict[str, CallerFormat] = {
    "chat": ChatCaller(),
    "responses": ResponsesCaller(),
    "messages": MessagesCaller(),
    "interactions": InteractionsCaller(),
    "generate_content": GenerateContentCaller(),
}
ANSWER = [
    Started("x", "m"),
    TextDelta("Hello"),
    ToolCallStarted(0, "call_1", "get_weather"),
    ToolArgumentsDelta(0, '{"location": '),
    ToolArgumentsDelta(0, '"Paris"}'),
    Finished(FinishReason.TOOL_CALLS, Usage(input=10, output=5, cached=2)),
]


def frames_of(caller: CallerFormat, answer: list[Any], *, end: bool = True) -> list[dict[str, Any]]:
    encoder = caller.encoder(model="m", body={"stream_options": {"include_usage": True}}, created=0)
    raw = [f for event in answer for f in encoder.frames(event, None)]
    if end:
        raw += encoder.end(None)
    parser = SseParser()
    return [json.loads(e.data) for frame in raw for e in parser.feed(frame) if e.data != "[DONE]"]


TERMINAL = {
    "chat": lambda d: d.get("choices") == [] and d["usage"]["prompt_tokens"] == 10,
    "responses": lambda d: (
        d.get("type") == "response.completed" and d["response"]["usage"]["input_tokens"] == 10
    ),
    "messages": lambda d: (
        d.get("type") == "message_delta"
        and d["delta"]["stop_reason"] == "tool_use"
        and d["usage"]["input_tokens"] == 8
    ),
    "interactions": lambda d: (
        d.get("event_type") == "interaction.completed"
        and d["interaction"]["status"] == "requires_action"
    ),
    "generate_content": lambda d: (
        "candidates" in d
        and d["candidates"][0].get("finishReason") == "STOP"
        and d["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]
        == {"location": "Paris"}
        and d["usageMetadata"]["promptTokenCount"] == 10
    ),
}


@pytest.mark.parametrize("surface", list(CALLERS))
def test_each_surface_ends_an_answer_with_its_own_terminal_event(surface: str) -> None:
    frames = frames_of(CALLERS[surface], ANSWER)
    assert any(TERMINAL[surface](frame) for frame in frames), frames
    assert json.dumps(frames).count("Paris") >= 1  # the arguments reach the caller


ERROR_SHAPE = {
    "chat": lambda d: "error" in d and "message" in d["error"],
    "responses": lambda d: d.get("type") == "error",
    "messages": lambda d: d.get("type") == "error",
    "interactions": lambda d: d.get("event_type") == "error",
    "generate_content": lambda d: d.get("error", {}).get("status") == "INTERNAL",
}


@pytest.mark.parametrize("surface", list(CALLERS))
def test_a_stream_cut_before_its_end_ends_in_band_never_looking_whole(surface: str) -> None:
    frames = frames_of(CALLERS[surface], ANSWER[:3])  # no Finished: the upstream broke off
    assert ERROR_SHAPE[surface](frames[-1]), frames[-1]
    assert not any(TERMINAL[surface](frame) for frame in frames)


@pytest.mark.parametrize("surface", list(CALLERS))
def test_a_failed_answer_becomes_the_surfaces_error_event(surface: str) -> None:
    frames = frames_of(CALLERS[surface], [*ANSWER[:2], Failed("boom", "unavailable")])
    assert ERROR_SHAPE[surface](frames[-1]), frames[-1]
    assert "boom" in json.dumps(frames[-1])


@pytest.mark.parametrize(
    ("caller", "body", "upstream", "field"),
    [
        (MessagesCaller(), {"top_k": 5}, ChatUpstream(), "top_k"),
        (ChatCaller(), {"response_format": {"type": "json_object"}}, MessagesUpstream(),
         "response_format"),
        (InteractionsCaller(),
         {"response_format": {"type": "text", "mime_type": "application/json"}},
         MessagesUpstream(), "response_format"),
        (MessagesCaller(), {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
         ChatUpstream(), "tools[0]"),
        (ResponsesCaller(), {"previous_response_id": "resp_1"}, MessagesUpstream(),
         "previous_response_id"),
        (InteractionsCaller(), {"tools": [{"type": "google_search"}]}, ChatUpstream(), "tools[0]"),
        (GenerateContentCaller(), {"generationConfig": {"topK": 3}}, ChatUpstream(),
         "generationConfig.topK"),
        (GenerateContentCaller(), {"generationConfig": {"responseMimeType": "application/json"}},
         MessagesUpstream(), "generationConfig.responseMimeType"),
        (GenerateContentCaller(), {"tools": [{"googleSearch": {}}]}, ChatUpstream(),
         "tools[0].googleSearch"),
        (GenerateContentCaller(), {"generationConfig": {"presencePenalty": 1}}, ChatUpstream(),
         "generationConfig.presencePenalty"),
        (GenerateContentCaller(), {"cachedContent": "cachedContents/1"}, MessagesUpstream(),
         "cachedContent"),
        (GenerateContentCaller(),
         {"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "files/abc"}}]}]},
         ChatUpstream(), "contents[0].parts[0].fileData"),
    ],
)  # fmt: skip
def test_what_a_target_cannot_express_is_refused_naming_the_callers_field(
    caller: CallerFormat, body: dict[str, Any], upstream: UpstreamFormat, field: str
) -> None:
    base: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                            "input": "hi", "contents": [{"parts": [{"text": "hi"}]}]}  # fmt: skip
    with pytest.raises(FlexError) as caught:
        translate_request(caller, upstream, {**base, **body})
    assert caught.value.code == "unsupported_feature"
    assert caught.value.field == field
    assert upstream.target.split(" ")[0] in caught.value.message


@pytest.mark.parametrize("caller", list(CALLERS.values()), ids=list(CALLERS))
@pytest.mark.parametrize(
    "upstream", [ChatUpstream(), MessagesUpstream(), InteractionsUpstream()],
    ids=["openai", "anthropic", "gemini"],
)  # fmt: skip
def test_system_text_tools_and_a_tool_round_trip_survive_every_pair(
    caller: CallerFormat, upstream: UpstreamFormat
) -> None:
    body = CONVERSATIONS[type(caller).__name__]
    request = caller.read_request(body, target=upstream.target)
    assert request.system_text == "Be brief."
    assert [tool.name for tool in request.tools] == ["get_weather"]
    native = json.dumps(upstream.write_request(request))
    for needle in ("Be brief.", "get_weather", "Paris", "18"):
        assert needle in native, (needle, native)


TOOL_SCHEMA = {"type": "object", "properties": {"location": {"type": "string"}}}
CONVERSATIONS: dict[str, dict[str, Any]] = {
    "GenerateContentCaller": {
        "model": "m",
        "stream": False,
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                                                          "args": {"location": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                             "response": {"c": 18}}}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {
            "type": "OBJECT", "properties": {"location": {"type": "STRING"}}}}]}],
    },
    "ChatCaller": {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"location": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "18"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather",
                                                     "parameters": TOOL_SCHEMA}}],
    },
    "ResponsesCaller": {
        "model": "m",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "get_weather",
             "arguments": '{"location": "Paris"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "18"},
        ],
        "tools": [{"type": "function", "name": "get_weather", "parameters": TOOL_SCHEMA}],
    },
    "MessagesCaller": {
        "model": "m",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "c1",
                                               "name": "get_weather",
                                               "input": {"location": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1",
                                          "content": "18"}]},
        ],
        "tools": [{"name": "get_weather", "input_schema": TOOL_SCHEMA}],
    },
    "InteractionsCaller": {
        "model": "m",
        "system_instruction": "Be brief.",
        "input": [
            {"type": "user_input", "content": [{"type": "text", "text": "weather?"}]},
            {"type": "function_call", "id": "c1", "name": "get_weather",
             "arguments": {"location": "Paris"}},
            {"type": "function_result", "call_id": "c1", "name": "get_weather", "result": "18"},
        ],
        "tools": [{"type": "function", "name": "get_weather", "parameters": TOOL_SCHEMA}],
    },
}  # fmt: skip
