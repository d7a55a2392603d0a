"""Per-tier behaviour: refusals, delays, token pacing, tier substitution, drops, errors,
client mistakes, truncation and seeded reproducibility."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from flexgrpc.providers.sse import SseParser
from flexgrpc.sim import Outcome, SimConfig, Simulator
from flexgrpc.sim.config import TierConfig
from tests.sim.surfaces import SURFACES, names, payload, stream, terminal

FLEX_SURFACES = ["responses", "chat_completions", "interactions"]


async def _post(client: httpx.AsyncClient, name: str, body: dict[str, Any]) -> httpx.Response:
    surface = SURFACES[name]
    return await client.post(surface.path, json=body, headers=surface.headers)


async def _read_raw(
    client: httpx.AsyncClient, name: str, body: dict[str, Any], into: list[bytes]
) -> None:
    surface = SURFACES[name]
    async with client.stream("POST", surface.path, json=body, headers=surface.headers) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            into.append(chunk)


# -- capacity refusals -----------------------------------------------------------------------


@pytest.mark.parametrize("stream_it", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("name", FLEX_SURFACES)
async def test_flex_refusal_rate_one_answers_the_providers_capacity_error(
    sim: Simulator, client: httpx.AsyncClient, name: str, stream_it: bool
) -> None:
    sim.config = SimConfig().with_tier("flex", refusal_rate=1.0)
    surface = SURFACES[name]

    response = await _post(client, name, surface.body(stream=stream_it, tier=surface.flex))

    error = response.json()["error"]
    if name == "interactions":
        assert response.status_code == 503
        assert error == {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    else:
        assert response.status_code == 429
        assert error["message"].startswith("Resource unavailable")
        assert error["code"] == "resource_unavailable"
        assert set(error) == {"message", "type", "param", "code"}
    assert sim.records[-1].outcome is Outcome.REFUSED
    assert sim.records[-1].status == response.status_code


async def test_only_the_configured_tier_is_refused(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("flex", refusal_rate=1.0)
    surface = SURFACES["responses"]

    assert (await _post(client, "responses", surface.body(tier="flex"))).status_code == 429
    assert (await _post(client, "responses", surface.body(tier="default"))).status_code == 200
    assert (await _post(client, "responses", surface.body())).status_code == 200


async def test_gemini_capacity_status_can_be_429_and_carries_retry_after(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("flex", refusal_rate=1.0, refusal_status=429, retry_after=7)
    surface = SURFACES["interactions"]
    response = await _post(client, "interactions", surface.body(tier="flex"))

    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert response.headers["retry-after"] == "7"


async def test_anthropic_capacity_refusal_is_529_overloaded(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("standard", provider="anthropic", refusal_rate=1.0)
    surface = SURFACES["messages"]
    response = await _post(client, "messages", surface.body())

    assert response.status_code == 529
    body = response.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert body["request_id"] == response.headers["request-id"]


async def test_refusal_delay_holds_the_refusal_back(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("flex", refusal_rate=1.0, refusal_delay="fixed:300ms")
    surface = SURFACES["responses"]
    started = time.monotonic()
    response = await _post(client, "responses", surface.body(tier="flex"))
    assert response.status_code == 429
    assert time.monotonic() - started >= 0.29


# -- timing ----------------------------------------------------------------------------------


async def test_start_delay_holds_the_first_output_event_but_not_the_acknowledgements(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("flex", start_delay="fixed:600ms")
    surface = SURFACES["responses"]
    arrivals: list[tuple[str, float]] = []
    started = time.monotonic()
    async with client.stream(
        "POST", surface.path, json=surface.body(stream=True, tier="flex"), headers=surface.headers
    ) as response:
        buffer = b""
        async for chunk in response.aiter_bytes():
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                name = frame.split(b"\n", 1)[0].removeprefix(b"event: ").decode()
                arrivals.append((name, time.monotonic() - started))

    timing = dict(arrivals)
    assert timing["response.created"] < 0.45
    assert timing["response.output_item.added"] >= 0.58
    record = sim.records[-1]
    assert record.start_delay == pytest.approx(0.6)
    assert record.first_output_time is not None
    assert record.first_output_time - record.arrival_time >= 0.58


async def test_start_delay_applies_to_non_streamed_answers(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("flex", start_delay="fixed:400ms")
    surface = SURFACES["interactions"]
    started = time.monotonic()
    response = await _post(client, "interactions", surface.body(tier="flex"))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.39


async def test_time_scale_shrinks_every_delay(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.config = SimConfig(time_scale=0.05).with_tier("flex", start_delay="fixed:8s")
    surface = SURFACES["chat_completions"]
    started = time.monotonic()
    response = await _post(client, "chat_completions", surface.body(tier="flex"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert 0.39 <= elapsed < 4
    assert sim.records[-1].start_delay == pytest.approx(0.4)


async def test_token_rate_paces_the_deltas(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.config = SimConfig().with_tier("standard", token_rate=20, output_tokens=11)
    surface = SURFACES["messages"]
    started = time.monotonic()
    _, events = await stream(client, surface, surface.body(stream=True))
    elapsed = time.monotonic() - started

    deltas = [e for e in events if e.event == "content_block_delta"]
    assert len(deltas) == 11
    assert elapsed >= 0.45  # ten intervals of 50 ms


# -- tier substitution -----------------------------------------------------------------------


async def test_serve_tier_instead_echoes_the_tier_actually_served(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = (
        SimConfig()
        .with_tier("flex", serve_tier_instead="standard")
        .with_tier("priority", serve_tier_instead="standard")
    )
    responses = SURFACES["responses"]
    _, events = await stream(client, responses, responses.body(stream=True, tier="flex"))
    assert payload(events[0])["response"]["service_tier"] == "flex"  # as requested
    assert payload(events[-1])["response"]["service_tier"] == "default"  # as served
    assert sim.records[-1].served_tier == "default"

    chat = SURFACES["chat_completions"]
    _, events = await stream(client, chat, chat.body(stream=True, tier="flex"))
    assert {payload(e)["service_tier"] for e in events if e.data != "[DONE]"} == {"default"}

    gemini = SURFACES["interactions"]
    for asked in ("flex", "priority"):
        response = await _post(client, "interactions", gemini.body(tier=asked))
        assert response.json()["service_tier"] == "standard"


async def test_anthropic_auto_can_be_served_on_priority(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("auto", provider="anthropic", serve_tier_instead="priority")
    surface = SURFACES["messages"]
    assert (await _post(client, "messages", surface.body())).json()["usage"]["service_tier"] == (
        "priority"
    )
    standard_only = surface.body(tier="standard_only")
    assert (await _post(client, "messages", standard_only)).json()["usage"]["service_tier"] == (
        "standard"
    )


# -- drops and errors ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SURFACES))
async def test_drop_ends_the_connection_after_some_output_without_the_terminal_event(
    sim: Simulator, client: httpx.AsyncClient, name: str
) -> None:
    sim.config = SimConfig(default_output_tokens=20).with_tier("standard", drop_rate=1.0)
    surface = SURFACES[name]
    received: list[bytes] = []
    with pytest.raises(httpx.RemoteProtocolError):
        await _read_raw(client, name, surface.body(stream=True), received)

    parser = SseParser()
    sequence = names(surface, list(parser.feed(b"".join(received))))
    assert terminal(surface) not in sequence
    assert "finish" not in sequence
    assert {"response.output_text.delta", "content", "content_block_delta", "step.delta"} & set(
        sequence
    )
    assert sim.records[-1].outcome is Outcome.DROPPED


async def test_drop_cuts_a_non_streamed_body_short(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("auto", drop_rate=1.0)
    surface = SURFACES["responses"]
    with pytest.raises(httpx.RemoteProtocolError):
        await _post(client, "responses", surface.body())
    assert sim.records[-1].outcome is Outcome.DROPPED


@pytest.mark.parametrize(
    ("name", "status", "expected"),
    [
        (
            "responses",
            500,
            {"type": "server_error", "param": None, "code": None},
        ),
        ("chat_completions", 502, {"type": "server_error"}),
        ("messages", 500, {"type": "api_error", "message": "Internal server error"}),
        ("interactions", 500, {"code": 500, "status": "INTERNAL"}),
        ("interactions", 503, {"code": 503, "status": "UNAVAILABLE"}),
    ],
)
async def test_error_rate_injects_server_errors_in_the_providers_shape(
    sim: Simulator,
    client: httpx.AsyncClient,
    name: str,
    status: int,
    expected: dict[str, Any],
) -> None:
    sim.config = SimConfig().with_tier("standard", error_rate=1.0, error_status=status)
    surface = SURFACES[name]
    response = await _post(client, name, surface.body(stream=True))

    assert response.status_code == status
    body = response.json()
    error = body["error"]
    assert expected.items() <= error.items()
    if name == "messages":
        assert body["type"] == "error"
    assert sim.records[-1].outcome is Outcome.ERROR


# -- the client's mistakes -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SURFACES))
async def test_missing_key_is_401_in_the_providers_shape(
    sim: Simulator, client: httpx.AsyncClient, name: str
) -> None:
    surface = SURFACES[name]
    headers = {k: v for k, v in surface.headers.items() if k == "anthropic-version"}
    response = await client.post(surface.path, json=surface.body(), headers=headers)

    assert response.status_code == 401
    body = response.json()
    if name == "messages":
        assert body["error"]["type"] == "authentication_error"
    elif name == "interactions":
        assert body["error"]["status"] == "UNAUTHENTICATED"
        assert body["error"]["code"] == 401
    else:
        assert body["error"]["type"] == "invalid_request_error"
        assert "API key" in body["error"]["message"]
    record = sim.records[-1]
    assert record.api_key_present is False
    assert record.outcome is Outcome.REJECTED


async def test_gemini_accepts_the_key_as_a_query_parameter(client: httpx.AsyncClient) -> None:
    surface = SURFACES["interactions"]
    response = await client.post(f"{surface.path}?key=AIza-test", json=surface.body())
    assert response.status_code == 200


async def test_openai_wants_a_bearer_key(client: httpx.AsyncClient) -> None:
    surface = SURFACES["responses"]
    response = await client.post(
        surface.path, json=surface.body(), headers={"authorization": "Basic abc"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("name", sorted(SURFACES))
@pytest.mark.parametrize("raw", [b'{"model": "x", ', b"[1, 2]"], ids=["truncated", "not-object"])
async def test_malformed_json_is_400_in_the_providers_shape(
    sim: Simulator, client: httpx.AsyncClient, name: str, raw: bytes
) -> None:
    surface = SURFACES[name]
    response = await client.post(
        surface.path, content=raw, headers={**surface.headers, "content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    if name == "messages":
        assert body["error"]["type"] == "invalid_request_error"
    elif name == "interactions":
        assert body["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert body["error"]["type"] == "invalid_request_error"
    assert sim.records[-1].body == raw.decode()


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("responses", "turbo"),
        ("messages", "flex"),
        ("interactions", "auto"),
        ("chat_completions", 3),
    ],
)
async def test_a_tier_the_provider_does_not_have_is_400(
    client: httpx.AsyncClient, name: str, tier: Any
) -> None:
    surface = SURFACES[name]
    body = surface.body()
    body["service_tier"] = tier
    response = await _post(client, name, body)
    assert response.status_code == 400
    assert "service_tier" in response.text


async def test_anthropic_requires_its_version_header_and_max_tokens(
    client: httpx.AsyncClient,
) -> None:
    surface = SURFACES["messages"]
    response = await client.post(
        surface.path, json=surface.body(), headers={"x-api-key": "sk-ant-test"}
    )
    assert response.status_code == 400
    assert "anthropic-version" in response.json()["error"]["message"]

    body = surface.body()
    del body["max_tokens"]
    response = await _post(client, "messages", body)
    assert response.status_code == 400
    assert "max_tokens" in response.json()["error"]["message"]


@pytest.mark.parametrize("name", sorted(SURFACES))
async def test_missing_model_is_400(client: httpx.AsyncClient, name: str) -> None:
    surface = SURFACES[name]
    body = surface.body()
    del body["model"]
    assert (await _post(client, name, body)).status_code == 400


# -- truncation ------------------------------------------------------------------------------


async def test_a_smaller_max_tokens_truncates_the_answer(client: httpx.AsyncClient) -> None:
    responses = SURFACES["responses"]
    _, events = await stream(client, responses, responses.body(stream=True, max_tokens=3))
    assert events[-1].event == "response.incomplete"
    final = payload(events[-1])["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["usage"]["output_tokens"] == 3

    chat = SURFACES["chat_completions"]
    body = (await _post(client, "chat_completions", chat.body(max_tokens=3))).json()
    assert body["choices"][0]["finish_reason"] == "length"

    messages = SURFACES["messages"]
    body = (await _post(client, "messages", messages.body(max_tokens=3))).json()
    assert (body["stop_reason"], body["usage"]["output_tokens"]) == ("max_tokens", 3)

    gemini = SURFACES["interactions"]
    body = (await _post(client, "interactions", gemini.body(max_tokens=3))).json()
    assert body["status"] == "incomplete"


async def test_output_tokens_sets_the_answer_length(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("standard", output_tokens=7)
    surface = SURFACES["chat_completions"]
    _, events = await stream(client, surface, surface.body(stream=True))
    assert names(surface, events).count("content") == 7


# -- reproducibility -------------------------------------------------------------------------


def _chaos(seed: int) -> SimConfig:
    return SimConfig(seed=seed, time_scale=0.001).with_tier(
        "flex",
        refusal_rate=0.4,
        error_rate=0.1,
        start_delay="exp:5s",
    )


async def _run(client: httpx.AsyncClient, sim: Simulator) -> list[tuple[Any, ...]]:
    surface = SURFACES["responses"]
    outcomes = []
    for _ in range(30):
        response = await _post(client, "responses", surface.body(tier="flex"))
        record = sim.records[-1]
        text = response.json()["output"][0]["content"][0]["text"] if response.is_success else ""
        outcomes.append((response.status_code, record.start_delay, text))
    return outcomes


async def test_the_same_seed_gives_the_same_run(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.config = _chaos(seed=42)
    first = await _run(client, sim)
    sim.reset()
    second = await _run(client, sim)

    assert first == second
    statuses = {status for status, _, _ in first}
    assert {200, 429} <= statuses
    assert len({delay for _, delay, _ in first}) > 10


async def test_another_seed_gives_another_run(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.config = _chaos(seed=42)
    first = await _run(client, sim)
    sim.reset()
    sim.config = _chaos(seed=43)
    assert await _run(client, sim) != first


async def test_a_fresh_simulator_with_the_same_seed_repeats_the_run() -> None:
    runs = []
    for _ in range(2):
        simulator = Simulator(_chaos(seed=7))
        await simulator.start()
        try:
            async with httpx.AsyncClient(base_url=simulator.url) as http:
                runs.append(await _run(http, simulator))
        finally:
            await simulator.stop()
    assert runs[0] == runs[1]


async def test_records_say_what_happened_and_never_hold_the_key(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    surface = SURFACES["responses"]
    body = surface.body(stream=True, tier="flex")
    await stream(client, surface, body)
    record = sim.records[-1].to_dict()

    assert record["provider"] == "openai"
    assert record["surface"] == "responses"
    assert record["path"] == "/v1/responses"
    assert record["model"] == surface.model
    assert record["service_tier"] == "flex"
    assert record["served_tier"] == "flex"
    assert record["stream"] is True
    assert record["api_key_present"] is True
    assert record["body"] == body
    assert record["status"] == 200
    assert record["outcome"] == "completed"
    assert record["disconnect_time"] is None
    assert record["arrival_time"] <= record["first_output_time"] <= record["end_time"]
    assert "sk-test-openai" not in repr(record)


def test_tier_config_defaults_are_harmless() -> None:
    assert TierConfig() == TierConfig(
        refusal_rate=0.0, start_delay="none", token_rate=0.0, error_rate=0.0, drop_rate=0.0
    )
