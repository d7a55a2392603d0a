"""Helpers for the translation tests: recorded fixtures, frame parsing, and the ``openai`` SDK
reading our answers the way a caller's code would."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import httpx
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
)

from flexgrpc.errors import FlexError
from flexgrpc.providers.openai import ChatReader
from flexgrpc.providers.reading import EventKind
from flexgrpc.providers.sse import SseEvent, SseParser, format_event
from tests.unit.translate.chat_pairs import ChatStream

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "translate"

#: Every translator in these tests reads this clock, so ``created`` is predictable.
NOW = 1_760_000_000.0


def clock() -> float:
    return NOW


def load_json(provider: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((FIXTURES / provider / name).read_text())
    return result


def load_events(provider: str, name: str) -> list[SseEvent]:
    """A recorded ``.sse`` file as the events the provider adapter would hand over."""
    parser = SseParser()
    events = list(parser.feed((FIXTURES / provider / name).read_bytes()))
    last = parser.close()
    return [*events, last] if last is not None else events


def sse(event: str, payload: dict[str, Any]) -> SseEvent:
    """One native event built in a test (named, JSON data) as the SSE parser would yield it."""
    data = json.dumps(payload)
    return SseEvent(event, data, format_event(data, event))


def run_stream(stream: ChatStream, events: Iterable[SseEvent]) -> list[bytes]:
    frames: list[bytes] = []
    for event in events:
        frames += stream.feed(event)
    return frames + stream.finish()


def payloads(frames: Iterable[bytes]) -> list[Any]:
    """The JSON (or the ``[DONE]`` marker) of each ``data:`` frame, checking the framing."""
    result: list[Any] = []
    for frame in frames:
        assert frame.startswith(b"data: ")
        assert frame.endswith(b"\n\n")
        assert frame.count(b"\n") == 2, "one data line per frame"
        data = frame[len(b"data: ") : -2].decode()
        result.append(data if data == "[DONE]" else json.loads(data))
    return result


def chunks(frames: Iterable[bytes]) -> list[ChatCompletionChunk]:
    """Every chunk frame, validated against the ``openai`` SDK's own type."""
    return [
        ChatCompletionChunk.model_validate(payload)
        for payload in payloads(frames)
        if payload != "[DONE]"
    ]


def streamed_text(frames: Iterable[bytes]) -> str:
    return "".join(
        choice.delta.content or "" for chunk in chunks(frames) for choice in chunk.choices
    )


def normalized(completion: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion with each tool call's ``arguments`` parsed, so two completions compare
    equal when they carry the same JSON whatever its spacing."""
    copy: dict[str, Any] = json.loads(json.dumps(completion))
    for choice in copy["choices"]:
        for call in choice["message"].get("tool_calls") or []:
            call["function"]["arguments"] = json.loads(call["function"]["arguments"] or "{}")
    return copy


def openai_client(answer: Callable[[dict[str, Any]], httpx.Response]) -> openai.OpenAI:
    """The real ``openai`` client whose HTTP calls ``answer`` serves in-process."""

    def handle(request: httpx.Request) -> httpx.Response:
        return answer(json.loads(request.content))

    return openai.OpenAI(
        api_key="flex_live_test",
        base_url="http://router.test/v1",
        # The SDK accepts an httpx client (its own transport is httpx2, typed separately).
        http_client=cast(Any, httpx.Client(transport=httpx.MockTransport(handle))),
        max_retries=0,
    )


def event_stream_response(frames: Iterable[bytes]) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=b"".join(frames)
    )


def sdk_completion(completion: dict[str, Any]) -> ChatCompletion:
    """``completion`` as the ``openai`` SDK parses it from a non-streamed HTTP answer."""
    client = openai_client(lambda _: httpx.Response(200, json=completion))
    return client.chat.completions.create(
        model=completion["model"], messages=[{"role": "user", "content": "hi"}]
    )


def sdk_stream(frames: list[bytes], model: str) -> Iterator[ChatCompletionChunk]:
    """``frames`` as the ``openai`` SDK iterates them from a streamed HTTP answer."""
    client = openai_client(lambda _: event_stream_response(frames))
    return iter(
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )


def function_calls(message: ChatCompletionMessage) -> list[ChatCompletionMessageFunctionToolCall]:
    """The message's tool calls, each checked to be a function call."""
    calls = message.tool_calls or []
    assert all(isinstance(call, ChatCompletionMessageFunctionToolCall) for call in calls)
    return cast(list[ChatCompletionMessageFunctionToolCall], calls)


def assemble_completion(frames: Iterable[bytes]) -> dict[str, Any]:
    """The ``chat.completion`` that Chat chunk frames add up to, as the router's own Chat reader
    (the one that reads OpenAI's streams) assembles it; ``FlexError("unavailable")`` when the
    frames carry an in-band error or end before a finish reason."""
    reader = ChatReader()
    for frame in frames:
        for event in SseParser().feed(frame):
            if reader.feed(event) is EventKind.ERROR:
                raise FlexError("unavailable", f"the upstream failed mid-answer: {event.data}")
    answer = reader.answer()
    if not reader.finished or not all(c.get("finish_reason") for c in answer["choices"]):
        raise FlexError("unavailable", "the stream ended before the answer was complete")
    return answer
