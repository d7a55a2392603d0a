"""Tool-call streams and generateContent streams follow the documented event sequences
(recorded examples in tests/fixtures/sse, see TOOL_CALLS.md there)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from flexgrpc.providers.sse import SseEvent, SseParser
from flexgrpc.sim import SimConfig, Simulator
from tests.sim.surfaces import SURFACES, collapse, names, payload, read_fixture, stream
from tests.sim.tool_surfaces import add_tools, calls, set_choice

CASES = [
    ("openai_responses_function_call.sse", "responses"),
    ("openai_chat_tool_calls.sse", "chat_completions"),
    ("anthropic_messages_tool_use.sse", "messages"),
    ("gemini_interactions_function_call.sse", "interactions"),
]
_NESTED = ("response", "message", "interaction", "item", "part", "delta", "step", "content_block")


def _keys(sequence: list[str], events: list[SseEvent]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, event in zip(sequence, events, strict=True):
        data = payload(event)
        if not isinstance(data, dict):
            continue
        keys = found.setdefault(name, set())
        keys.update(data)
        for nested in _NESTED:
            if isinstance(data.get(nested), dict):
                keys.update(f"{nested}.{key}" for key in data[nested])
    return found


def _assert_like(documented: dict[str, set[str]], simulated: dict[str, set[str]]) -> None:
    for event_name, keys in documented.items():
        missing = keys - simulated[event_name]
        assert not missing, f"{event_name} lacks documented fields {sorted(missing)}"


def _starts_a_call(event: SseEvent) -> bool:
    if event.event in ("response.output_item.added", "content_block_start", "step.start"):
        return True
    data = payload(event)
    if not isinstance(data, dict) or not data.get("choices"):
        return False
    fragments = data["choices"][0]["delta"].get("tool_calls") or []
    return any("id" in fragment for fragment in fragments)


async def _one_call_stream(client: httpx.AsyncClient, name: str) -> list[SseEvent]:
    """A streamed answer with exactly one call (parallel calls are drawn now and then)."""
    surface = SURFACES[name]
    for _ in range(20):
        body = surface.body(stream=True)
        add_tools(name, body, {"get_weather": {"type": "object", "properties": {}}})
        set_choice(name, body, "required")
        _, events = await stream(client, surface, body)
        if len([e for e in events if _starts_a_call(e)]) == 1:
            return events
    raise AssertionError("no single-call stream in 20 requests")


@pytest.mark.parametrize(("fixture", "name"), CASES)
async def test_a_tool_call_stream_matches_the_documented_example(
    sim: Simulator, client: httpx.AsyncClient, fixture: str, name: str
) -> None:
    sim.config = SimConfig(seed=1, reasoning_share=0.0)
    surface = SURFACES[name]
    documented = read_fixture(fixture)
    events = await _one_call_stream(client, name)

    assert collapse(names(surface, events)) == collapse(names(surface, documented))
    _assert_like(
        _keys(names(surface, documented), documented), _keys(names(surface, events), events)
    )


async def test_every_tool_call_stream_event_is_parseable_by_the_accumulators(
    client: httpx.AsyncClient,
) -> None:
    for name in SURFACES:
        body = SURFACES[name].body()
        add_tools(name, body)
        set_choice(name, body, "required")
        response = await client.post(SURFACES[name].path, json=body, headers=SURFACES[name].headers)
        assert calls(name, response.json())


# -- generateContent ---------------------------------------------------------------------------

KEY = {"x-goog-api-key": "AIza-test"}
PATH = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def _gc_names(events: list[SseEvent]) -> list[str]:
    kinds = []
    for event in events:
        candidate = json.loads(event.data)["candidates"][0]
        kinds.append("final" if "finishReason" in candidate else "part")
    return kinds


def _gc_keys(events: list[SseEvent]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for kind, event in zip(_gc_names(events), events, strict=True):
        data = json.loads(event.data)
        keys = found.setdefault(kind, set())
        keys.update(data)
        keys.update(f"usageMetadata.{key}" for key in data["usageMetadata"])
        candidate = data["candidates"][0]
        keys.update(f"candidate.{key}" for key in candidate)
        for part in candidate["content"]["parts"]:
            keys.update(f"part.{key}" for key in part)
            if "functionCall" in part:
                keys.update(f"functionCall.{key}" for key in part["functionCall"])
    return found


async def _gc_events(client: httpx.AsyncClient, body: dict[str, Any]) -> list[SseEvent]:
    response = await client.post(PATH, json=body, headers=KEY)
    parser = SseParser()
    return list(parser.feed(response.content))


async def test_a_generate_content_stream_matches_the_documented_example(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig(reasoning_share=0.0, cached_share=0.0)
    documented = read_fixture("gemini_generate_content_text.sse")
    events = await _gc_events(client, {"contents": [{"parts": [{"text": "Hi"}]}]})

    assert collapse(_gc_names(events)) == collapse(_gc_names(documented))
    _assert_like(_gc_keys(documented), _gc_keys(events))


async def test_a_generate_content_function_call_matches_the_documented_example(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig(reasoning_share=1.0, cached_share=0.0)
    documented = read_fixture("gemini_generate_content_function_call.sse")
    declaration = {"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {}}}
    body = {
        "contents": [{"parts": [{"text": "Weather?"}]}],
        "tools": [{"functionDeclarations": [declaration]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    }
    for _ in range(20):
        events = await _gc_events(client, body)
        if len(events) == 1:
            break
    assert collapse(_gc_names(events)) == collapse(_gc_names(documented))
    _assert_like(_gc_keys(documented), _gc_keys(events))
