"""The four provider surfaces as a client sees them: path, auth headers, request bodies, and
how to fold a stream back into the provider's non-streamed JSON."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from flexgrpc.providers.sse import SseEvent, SseParser, parse_stream

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "sse"

TIMESTAMP_KEYS = ("created", "created_at", "updated")


@dataclass(frozen=True)
class Surface:
    name: str
    path: str
    headers: dict[str, str]
    model: str
    reasoning_model: str
    #: The ``service_tier`` value that asks for flex (``None``: the provider has none).
    flex: str | None
    make_body: Callable[..., dict[str, Any]] = field(repr=False)

    def body(
        self,
        *,
        model: str | None = None,
        stream: bool = False,
        tier: str | None = None,
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        body = self.make_body(model or self.model, stream, max_tokens)
        if tier is not None:
            body["service_tier"] = tier
        return body


def _responses(model: str, stream: bool, max_tokens: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": "Say hello in a few words."}
    if stream:
        body["stream"] = True
    if max_tokens is not None:
        body["max_output_tokens"] = max_tokens
    return body


def _chat(model: str, stream: bool, max_tokens: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello in a few words."}],
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        body["max_completion_tokens"] = max_tokens
    return body


def _messages(model: str, stream: bool, max_tokens: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens or 1024,
        "messages": [{"role": "user", "content": "Say hello in a few words."}],
    }
    if stream:
        body["stream"] = True
    return body


def _interactions(model: str, stream: bool, max_tokens: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": "Say hello in a few words."}
    if stream:
        body["stream"] = True
    if max_tokens is not None:
        body["generation_config"] = {"max_output_tokens": max_tokens}
    return body


SURFACES = {
    surface.name: surface
    for surface in (
        Surface(
            "responses",
            "/v1/responses",
            {"authorization": "Bearer sk-test-openai"},
            "gpt-4.1",
            "o4-mini",
            "flex",
            _responses,
        ),
        Surface(
            "chat_completions",
            "/v1/chat/completions",
            {"authorization": "Bearer sk-test-openai"},
            "gpt-4.1",
            "o4-mini",
            "flex",
            _chat,
        ),
        Surface(
            "messages",
            "/v1/messages",
            {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"},
            "claude-sonnet-4-5",
            "claude-sonnet-4-5",
            None,
            _messages,
        ),
        Surface(
            "interactions",
            "/v1beta/interactions",
            {"x-goog-api-key": "AIza-test"},
            "gemini-2.0-flash",
            "gemini-3-flash-preview",
            "flex",
            _interactions,
        ),
    )
}


async def stream(
    client: httpx.AsyncClient, surface: Surface, body: dict[str, Any]
) -> tuple[httpx.Response, list[SseEvent]]:
    """POST a streamed request and read every event."""
    async with client.stream("POST", surface.path, json=body, headers=surface.headers) as response:
        events = [event async for event in parse_stream(response.aiter_bytes())]
    return response, events


def read_fixture(name: str) -> list[SseEvent]:
    parser = SseParser()
    events = list(parser.feed((FIXTURES / name).read_bytes()))
    last = parser.close()
    return [*events, *([last] if last else [])]


def payload(event: SseEvent) -> Any:
    return None if event.data == "[DONE]" else json.loads(event.data)


def names(surface: Surface, events: list[SseEvent]) -> list[str]:
    """Event names; for Chat (data-only frames) the kind of chunk instead."""
    if surface.name != "chat_completions":
        return [event.event for event in events]
    kinds = []
    for event in events:
        chunk = payload(event)
        if chunk is None:
            kinds.append("[DONE]")
        elif not chunk["choices"]:
            kinds.append("usage")
        elif chunk["choices"][0]["finish_reason"] is not None:
            kinds.append("finish")
        elif "role" in chunk["choices"][0]["delta"]:
            kinds.append("role")
        else:
            kinds.append("content")
    return kinds


def collapse(sequence: list[str]) -> list[str]:
    """Consecutive repeats folded (a stream has as many deltas as it has tokens)."""
    return [name for i, name in enumerate(sequence) if i == 0 or sequence[i - 1] != name]


def terminal(surface: Surface) -> str:
    return {
        "responses": "response.completed",
        "chat_completions": "[DONE]",
        "messages": "message_stop",
        "interactions": "interaction.completed",
    }[surface.name]


def without_timestamps(value: dict[str, Any]) -> dict[str, Any]:
    return {key: item for key, item in value.items() if key not in TIMESTAMP_KEYS}


def accumulate(surface: Surface, events: list[SseEvent]) -> dict[str, Any]:
    """Fold a stream into the JSON the provider returns without streaming."""
    data = [payload(event) for event in events]
    return {
        "responses": _accumulate_responses,
        "chat_completions": _accumulate_chat,
        "messages": _accumulate_messages,
        "interactions": _accumulate_interactions,
    }[surface.name](data)


def _accumulate_responses(data: list[Any]) -> dict[str, Any]:
    final = next(d for d in data if d["type"] in ("response.completed", "response.incomplete"))
    response = dict(final["response"])
    items = {d["output_index"]: d["item"] for d in data if d["type"] == "response.output_item.done"}
    assert response["output"] == [items[i] for i in sorted(items)]
    text = "".join(d["delta"] for d in data if d["type"] == "response.output_text.delta")
    messages = [item for item in response["output"] if item["type"] == "message"]
    if messages:
        assert messages[0]["content"][0]["text"] == text
    for item in response["output"]:
        if item["type"] == "function_call":
            arguments = "".join(
                d["delta"]
                for d in data
                if d["type"] == "response.function_call_arguments.delta"
                and d["item_id"] == item["id"]
            )
            assert item["arguments"] == arguments
    return response


def _accumulate_chat(data: list[Any]) -> dict[str, Any]:
    chunks = [d for d in data if d is not None]
    first = chunks[0]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finish = next(
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    )
    usage = next(c["usage"] for c in chunks if not c["choices"])
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for fragment in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
            call = calls.setdefault(
                fragment["index"], {"id": "", "type": "function", "function": {"name": ""}}
            )
            call["id"] = fragment.get("id", call["id"])
            function = fragment.get("function", {})
            call["function"]["name"] += function.get("name", "")
            call["function"]["arguments"] = call["function"].get("arguments", "") + function.get(
                "arguments", ""
            )
    message: dict[str, Any] = {
        "role": first["choices"][0]["delta"]["role"],
        "content": None if calls else content,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {
        "id": first["id"],
        "object": "chat.completion",
        "created": first["created"],
        "model": first["model"],
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": usage,
        "service_tier": chunks[-1]["service_tier"],
        "system_fingerprint": first["system_fingerprint"],
    }


def _accumulate_messages(data: list[Any]) -> dict[str, Any]:
    message = dict(next(d for d in data if d["type"] == "message_start")["message"])
    blocks: dict[int, dict[str, Any]] = {}
    usage = dict(message["usage"])
    for d in data:
        if d["type"] == "content_block_start":
            blocks[d["index"]] = dict(d["content_block"])
        elif d["type"] == "content_block_delta" and d["delta"]["type"] == "input_json_delta":
            block = blocks[d["index"]]
            block["partial"] = block.get("partial", "") + d["delta"]["partial_json"]
        elif d["type"] == "content_block_delta":
            blocks[d["index"]]["text"] += d["delta"]["text"]
        elif d["type"] == "message_delta":
            message.update(d["delta"])
            usage.update(d["usage"])
    for block in blocks.values():
        if "partial" in block:
            block["input"] = json.loads(block.pop("partial"))
    message["content"] = [blocks[i] for i in sorted(blocks)]
    message["usage"] = usage
    return message


def _accumulate_interactions(data: list[Any]) -> dict[str, Any]:
    steps: dict[int, dict[str, Any]] = {}
    completed: dict[str, Any] = {}
    for d in data:
        if d is None:
            continue
        if d["event_type"] == "step.start":
            steps[d["index"]] = dict(d["step"])
        elif d["event_type"] == "step.delta":
            step, delta = steps[d["index"]], d["delta"]
            if delta["type"] == "text":
                content = step.setdefault("content", [])
                if content and content[-1]["type"] == "text":
                    content[-1]["text"] += delta["text"]
                else:
                    content.append({"type": "text", "text": delta["text"]})
            elif delta["type"] == "thought_signature":
                step["signature"] = delta["signature"]
            elif delta["type"] == "arguments_delta":
                step["partial"] = step.get("partial", "") + delta["arguments"]
        elif d["event_type"] == "interaction.completed":
            completed = dict(d["interaction"])
    for step in steps.values():
        if "partial" in step:
            step["arguments"] = json.loads(step.pop("partial"))
    return {**completed, "steps": [steps[i] for i in sorted(steps)]}
