"""Each surface speaks its provider's documented wire format, streamed and not."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from flexgrpc.sim import SimConfig, Simulator
from tests.sim.surfaces import (
    SURFACES,
    accumulate,
    collapse,
    names,
    payload,
    read_fixture,
    stream,
    terminal,
    without_timestamps,
)

ALL = sorted(SURFACES)


@pytest.mark.parametrize("name", ALL)
async def test_stream_ends_with_the_terminal_event_and_is_server_sent_events(
    client: httpx.AsyncClient, name: str
) -> None:
    surface = SURFACES[name]
    response, events = await stream(client, surface, surface.body(stream=True))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    sequence = names(surface, events)
    assert terminal(surface) in sequence
    if name == "interactions":
        assert sequence[-2:] == ["interaction.completed", "done"]
    else:
        assert sequence[-1] == terminal(surface)


async def test_responses_events_are_typed_and_numbered_in_order(client: httpx.AsyncClient) -> None:
    surface = SURFACES["responses"]
    _, events = await stream(client, surface, surface.body(stream=True))

    data = [payload(event) for event in events]
    assert [d["type"] for d in data] == [event.event for event in events]
    assert [d["sequence_number"] for d in data] == list(range(len(data)))


async def test_anthropic_and_gemini_events_name_themselves(client: httpx.AsyncClient) -> None:
    for name, key in (("messages", "type"), ("interactions", "event_type")):
        surface = SURFACES[name]
        _, events = await stream(client, surface, surface.body(stream=True))
        for event in events:
            if event.data != "[DONE]":
                assert payload(event)[key] == event.event


@pytest.mark.parametrize("reasoning", [False, True], ids=["plain", "reasoning"])
@pytest.mark.parametrize("name", ALL)
async def test_non_streamed_json_is_what_the_stream_accumulates_to(
    sim: Simulator, client: httpx.AsyncClient, name: str, reasoning: bool
) -> None:
    surface = SURFACES[name]
    model = surface.reasoning_model if reasoning else surface.model
    sim.config = SimConfig(seed=5, cached_share=1.0, reasoning_share=1.0 if reasoning else 0.0)

    _, events = await stream(client, surface, surface.body(model=model, stream=True))
    sim.reset()  # request number 1 again: same draws, same answer
    response = await client.post(
        surface.path, json=surface.body(model=model), headers=surface.headers
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert without_timestamps(response.json()) == without_timestamps(accumulate(surface, events))


@pytest.mark.parametrize("name", ALL)
async def test_usage_reports_cached_and_reasoning_tokens(
    sim: Simulator, client: httpx.AsyncClient, name: str
) -> None:
    surface = SURFACES[name]
    sim.config = SimConfig(seed=2, cached_share=1.0, reasoning_share=1.0)
    response = await client.post(
        surface.path, json=surface.body(model=surface.reasoning_model), headers=surface.headers
    )
    body = response.json()

    if name == "responses":
        usage = body["usage"]
        assert set(usage) == {
            "input_tokens",
            "input_tokens_details",
            "output_tokens",
            "output_tokens_details",
            "total_tokens",
        }
        assert 0 < usage["input_tokens_details"]["cached_tokens"] < usage["input_tokens"]
        assert 0 < usage["output_tokens_details"]["reasoning_tokens"] < usage["output_tokens"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    elif name == "chat_completions":
        usage = body["usage"]
        assert 0 < usage["prompt_tokens_details"]["cached_tokens"] < usage["prompt_tokens"]
        reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
        assert 0 < reasoning < usage["completion_tokens"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    elif name == "messages":
        usage = body["usage"]
        assert set(usage) == {
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
            "service_tier",
        }
        assert usage["cache_read_input_tokens"] > 0
        assert usage["input_tokens"] > 0
        assert usage["output_tokens"] == 40
    else:
        usage = body["usage"]
        assert 0 < usage["total_cached_tokens"] < usage["total_input_tokens"]
        assert usage["total_thought_tokens"] > 0
        assert usage["total_output_tokens"] == 40
        assert usage["total_tokens"] == (
            usage["total_input_tokens"]
            + usage["total_output_tokens"]
            + usage["total_thought_tokens"]
            + usage["total_tool_use_tokens"]
        )
        assert body["steps"][0]["type"] == "thought"


def _cached_and_reasoning(name: str, body: dict[str, Any]) -> tuple[int, int]:
    usage = body["usage"]
    if name == "responses":
        return (
            usage["input_tokens_details"]["cached_tokens"],
            usage["output_tokens_details"]["reasoning_tokens"],
        )
    if name == "chat_completions":
        return (
            usage["prompt_tokens_details"]["cached_tokens"],
            usage["completion_tokens_details"]["reasoning_tokens"],
        )
    if name == "messages":
        return usage["cache_read_input_tokens"], 0
    return usage["total_cached_tokens"], usage["total_thought_tokens"]


@pytest.mark.parametrize("name", ALL)
async def test_cached_and_reasoning_tokens_appear_in_a_seeded_share_of_requests(
    sim: Simulator, client: httpx.AsyncClient, name: str
) -> None:
    surface = SURFACES[name]
    sim.config = SimConfig(seed=9, cached_share=0.3, reasoning_share=0.5)
    seen = []
    for _ in range(40):
        response = await client.post(
            surface.path, json=surface.body(model=surface.reasoning_model), headers=surface.headers
        )
        seen.append(_cached_and_reasoning(name, response.json()))

    cached = [c for c, _ in seen if c > 0]
    assert 0 < len(cached) < len(seen)
    if name != "messages":
        reasoned = [r for _, r in seen if r > 0]
        assert 0 < len(reasoned) < len(seen)


async def test_non_reasoning_models_never_report_reasoning(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig(reasoning_share=1.0)
    surface = SURFACES["responses"]
    response = await client.post(
        surface.path, json=surface.body(model="gpt-4o"), headers=surface.headers
    )
    assert response.json()["usage"]["output_tokens_details"]["reasoning_tokens"] == 0
    assert [item["type"] for item in response.json()["output"]] == ["message"]


# -- service_tier --------------------------------------------------------------------------


async def test_responses_echo_the_requested_tier_early_and_the_served_tier_at_the_end(
    client: httpx.AsyncClient,
) -> None:
    surface = SURFACES["responses"]
    _, events = await stream(client, surface, surface.body(stream=True, tier="flex"))
    data = [payload(event) for event in events]
    assert data[0]["response"]["service_tier"] == "flex"
    assert data[-1]["response"]["service_tier"] == "flex"

    _, events = await stream(client, surface, surface.body(stream=True))
    data = [payload(event) for event in events]
    assert data[0]["response"]["service_tier"] == "auto"
    assert data[-1]["response"]["service_tier"] == "default"

    response = await client.post(
        surface.path, json=surface.body(tier="priority"), headers=surface.headers
    )
    assert response.json()["service_tier"] == "priority"


async def test_chat_echoes_the_served_tier_in_every_chunk(client: httpx.AsyncClient) -> None:
    surface = SURFACES["chat_completions"]
    for asked, served in (("flex", "flex"), (None, "default"), ("default", "default")):
        _, events = await stream(client, surface, surface.body(stream=True, tier=asked))
        chunks = [payload(event) for event in events if event.data != "[DONE]"]
        assert {chunk["service_tier"] for chunk in chunks} == {served}


async def test_anthropic_echoes_the_served_tier_in_usage(client: httpx.AsyncClient) -> None:
    surface = SURFACES["messages"]
    for asked in (None, "auto", "standard_only"):
        response = await client.post(
            surface.path, json=surface.body(tier=asked), headers=surface.headers
        )
        assert response.json()["usage"]["service_tier"] == "standard"
        _, events = await stream(client, surface, surface.body(stream=True, tier=asked))
        assert payload(events[0])["message"]["usage"]["service_tier"] == "standard"


async def test_gemini_echoes_the_served_tier_on_the_interaction(client: httpx.AsyncClient) -> None:
    surface = SURFACES["interactions"]
    for asked, served in (("flex", "flex"), (None, "standard"), ("priority", "priority")):
        response = await client.post(
            surface.path, json=surface.body(tier=asked), headers=surface.headers
        )
        assert response.json()["service_tier"] == served
        _, events = await stream(client, surface, surface.body(stream=True, tier=asked))
        completed = next(e for e in events if e.event == "interaction.completed")
        assert payload(completed)["interaction"]["service_tier"] == served


# -- documented examples -------------------------------------------------------------------

FIXTURE_CASES = [
    ("openai_responses_text.sse", "responses", False),
    ("openai_responses_reasoning.sse", "responses", True),
    ("openai_chat_text.sse", "chat_completions", False),
    ("anthropic_messages_text.sse", "messages", False),
    ("gemini_interactions_text.sse", "interactions", False),
    ("gemini_interactions_thought.sse", "interactions", True),
]

_NESTED = ("response", "message", "interaction", "item", "part", "delta", "step")


def _keys_by_event(surface_name: str, events: list[Any]) -> dict[str, set[str]]:
    surface = SURFACES[surface_name]
    found: dict[str, set[str]] = {}
    for name, event in zip(names(surface, events), events, strict=True):
        data = payload(event)
        if not isinstance(data, dict):
            continue
        keys = found.setdefault(name, set())
        keys.update(data)
        for nested in _NESTED:
            if isinstance(data.get(nested), dict):
                keys.update(f"{nested}.{key}" for key in data[nested])
    return found


@pytest.mark.parametrize(("fixture", "name", "reasoning"), FIXTURE_CASES)
async def test_event_sequence_matches_the_documented_example(
    sim: Simulator, client: httpx.AsyncClient, fixture: str, name: str, reasoning: bool
) -> None:
    surface = SURFACES[name]
    documented = read_fixture(fixture)
    sim.config = SimConfig(reasoning_share=1.0 if reasoning else 0.0)
    model = surface.reasoning_model if reasoning else surface.model

    _, events = await stream(client, surface, surface.body(model=model, stream=True))

    assert collapse(names(surface, events)) == collapse(names(surface, documented))
    simulated_keys = _keys_by_event(name, events)
    for event_name, keys in _keys_by_event(name, documented).items():
        missing = keys - simulated_keys[event_name]
        assert not missing, f"{event_name} lacks documented fields {sorted(missing)}"
