"""Start detection and assembly on documented event sequences (tests/fixtures/sse)."""

from __future__ import annotations

import json
import pathlib

import pytest

from flexgrpc.domain import Provider, ProviderRoute, RouteJob, ServedTier, StartWithin, Surface
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.anthropic import MessagesAdapter
from flexgrpc.providers.gemini import InteractionsAdapter
from flexgrpc.providers.openai import ChatCompletionsAdapter, ResponsesAdapter
from flexgrpc.providers.reading import EventKind
from flexgrpc.providers.sse import SseEvent, SseParser

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "sse"


def events(name: str) -> list[SseEvent]:
    parser = SseParser()
    found = list(parser.feed(FIXTURES.joinpath(name).read_bytes()))
    last = parser.close()
    return [*found, *([last] if last else [])]


def job() -> RouteJob:
    return RouteJob(
        request_id="req_test",
        surface=Surface.RESPONSES,
        model="m",
        provider=Provider.OPENAI,
        routes=(ProviderRoute.OPENAI,),
        start_within=StartWithin(window_ms=30_000),
        stream=True,
        body={},
    )


def kinds(adapter: Adapter, name: str) -> tuple[list[EventKind], object]:
    reader = adapter.reader(job())
    return [reader.feed(e) for e in events(name)], reader


# (adapter, fixture, index of the first event that counts as a start)
CASES = [
    (ResponsesAdapter(), "openai_responses_text.sse", 2),  # response.output_item.added
    (ResponsesAdapter(), "openai_responses_reasoning.sse", 2),  # the reasoning item is output
    (ChatCompletionsAdapter(), "openai_chat_text.sse", 1),  # first content delta
    (MessagesAdapter(), "anthropic_messages_text.sse", 1),  # content_block_start
    (InteractionsAdapter(), "gemini_interactions_text.sse", 2),  # step.start
    (InteractionsAdapter(), "gemini_interactions_thought.sse", 2),  # a thought step starts
]


@pytest.mark.parametrize(("adapter", "fixture", "first_output"), CASES)
def test_lifecycle_events_are_not_a_start(
    adapter: Adapter, fixture: str, first_output: int
) -> None:
    seen, reader = kinds(adapter, fixture)
    assert seen[:first_output] == [EventKind.LIFECYCLE] * first_output
    assert seen[first_output] is EventKind.OUTPUT
    assert EventKind.TERMINAL in seen
    assert EventKind.ERROR not in seen
    assert reader.finished  # type: ignore[attr-defined]


@pytest.mark.parametrize(("adapter", "fixture", "first_output"), CASES)
def test_assembled_answer_holds_every_text_delta(
    adapter: Adapter, fixture: str, first_output: int
) -> None:
    reader = adapter.reader(job())
    deltas: list[str] = []
    for event in events(fixture):
        reader.feed(event)
        data = json.loads(event.data) if event.data.startswith("{") else {}
        delta = data.get("delta")
        if isinstance(delta, str) and data.get("type", "").endswith("output_text.delta"):
            deltas.append(delta)
        elif isinstance(delta, dict) and isinstance(delta.get("text"), str):
            deltas.append(delta["text"])
        for choice in data.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                deltas.append(piece)
    answer = reader.answer()
    assert deltas, "fixture has text deltas"
    assert "".join(deltas) in json.dumps(answer, ensure_ascii=False).replace("\\n", "\n")
    assert reader.usage, "usage was read"
    assert reader.served_tier is not None
    assert adapter.normalise_tier(reader.served_tier) is not ServedTier.UNKNOWN


def test_responses_error_event_is_an_error() -> None:
    reader = ResponsesAdapter().reader(job())
    error = SseEvent("error", '{"type":"error","code":"server_error","message":"boom"}', b"")
    assert reader.feed(error) is EventKind.ERROR


def test_chat_usage_chunk_is_not_a_start() -> None:
    reader = ChatCompletionsAdapter().reader(job())
    usage_only = '{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}'
    assert reader.feed(SseEvent("", usage_only, b"")) is EventKind.LIFECYCLE
    assert reader.usage == {"prompt_tokens": 1, "completion_tokens": 2}


def test_anthropic_tool_input_is_rebuilt_from_json_deltas() -> None:
    reader = MessagesAdapter().reader(job())
    frames = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "content": [],
                           "usage": {"input_tokens": 3, "service_tier": "standard"}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "tool_use", "id": "t", "name": "f",
                                                   "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"a": '}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    for name, data in frames:
        reader.feed(SseEvent(name, json.dumps(data), b""))
    answer = reader.answer()
    assert answer["content"] == [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}]
    assert answer["stop_reason"] == "tool_use"
    assert reader.usage == {"input_tokens": 3, "service_tier": "standard", "output_tokens": 9}
