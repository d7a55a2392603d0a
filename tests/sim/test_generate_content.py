"""Gemini generateContent as Google serves it: the JSON answer, the SSE and JSON-array streams,
the tier in ``serviceTier`` and ``x-gemini-service-tier``, flex refusals, tools, response
schemas, and countTokens."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from flexgrpc.providers.sse import SseParser
from flexgrpc.sim import Outcome, SimConfig, Simulator
from tests.sim.tool_surfaces import REPORT, SEARCH, WEATHER

KEY = {"x-goog-api-key": "AIza-test"}
MODEL = "gemini-2.5-flash"
PROMPT = [{"role": "user", "parts": [{"text": "Say hello in a few words."}]}]


def _path(method: str = "generateContent", version: str = "v1beta", model: str = MODEL) -> str:
    return f"/{version}/models/{model}:{method}"


def _body(**extra: Any) -> dict[str, Any]:
    return {"contents": PROMPT, **extra}


async def _post(
    client: httpx.AsyncClient, body: dict[str, Any], path: str | None = None
) -> httpx.Response:
    return await client.post(path or _path(), json=body, headers=KEY)


async def _sse_chunks(
    client: httpx.AsyncClient, body: dict[str, Any], version: str = "v1beta"
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    path = _path("streamGenerateContent", version) + "?alt=sse"
    response = await client.post(path, json=body, headers=KEY)
    parser = SseParser()
    events = list(parser.feed(response.content))
    assert parser.close() is None
    assert all(event.event in ("", "message") for event in events)
    return response, [json.loads(event.data) for event in events]


def _fold(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streamed response the chunks add up to (text parts joined)."""
    parts: list[dict[str, Any]] = []
    for chunk in chunks:
        for part in chunk["candidates"][0]["content"]["parts"]:
            plain = set(part) <= {"text", "thoughtSignature"} and "text" in part
            if plain and parts and set(parts[-1]) <= {"text", "thoughtSignature"}:
                parts[-1] = {**parts[-1], "text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(dict(part))
    last = chunks[-1]
    candidate = {
        "content": {"parts": parts, "role": "model"},
        "finishReason": last["candidates"][0]["finishReason"],
        "index": 0,
    }
    return {**last, "candidates": [candidate]}


def _calls(answer: dict[str, Any]) -> list[dict[str, Any]]:
    parts = answer["candidates"][0]["content"]["parts"]
    return [part["functionCall"] for part in parts if "functionCall" in part]


def _text(answer: dict[str, Any]) -> str:
    parts = answer["candidates"][0]["content"]["parts"]
    return "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))


def _tools(mode: str | None = None, allowed: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "get_weather", "parametersJsonSchema": WEATHER},
                    {
                        "name": "lookup",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {
                                "term": {"type": "STRING"},
                                "limit": {"type": "INTEGER", "minimum": 1, "maximum": 5},
                                "exact": {"type": "BOOLEAN", "nullable": True},
                            },
                            "required": ["term", "limit"],
                        },
                    },
                ]
            }
        ]
    }
    if mode is not None:
        config: dict[str, Any] = {"mode": mode}
        if allowed:
            config["allowedFunctionNames"] = allowed
        body["toolConfig"] = {"functionCallingConfig": config}
    return body


LOOKUP_AS_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "term": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 5},
        "exact": {"type": ["boolean", "null"]},
    },
    "required": ["term", "limit"],
}
SCHEMAS = {"get_weather": WEATHER, "lookup": LOOKUP_AS_JSON_SCHEMA}


# -- the answer --------------------------------------------------------------------------------


async def test_the_answer_is_a_generate_content_response(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig(cached_share=1.0, reasoning_share=1.0)
    response = await _post(client, _body())

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"candidates", "usageMetadata", "modelVersion", "responseId"}
    assert body["modelVersion"] == MODEL
    candidate = body["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"][0]["thoughtSignature"]
    usage = body["usageMetadata"]
    assert 0 < usage["cachedContentTokenCount"] < usage["promptTokenCount"]
    assert usage["thoughtsTokenCount"] > 0
    assert usage["candidatesTokenCount"] == 40
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    record = sim.records[-1]
    assert (record.surface, record.model, record.stream) == ("generate_content", MODEL, False)


async def test_thoughts_are_parts_only_when_asked_for(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig(reasoning_share=1.0)
    thinking = {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    parts = (await _post(client, _body(**thinking))).json()["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True
    assert "thoughtSignature" in parts[1]
    parts = (await _post(client, _body())).json()["candidates"][0]["content"]["parts"]
    assert not any(part.get("thought") for part in parts)


@pytest.mark.parametrize("thoughts", [False, True], ids=["hidden", "included"])
async def test_the_sse_stream_adds_up_to_the_non_streamed_answer(
    sim: Simulator, client: httpx.AsyncClient, thoughts: bool
) -> None:
    sim.config = SimConfig(seed=3, cached_share=1.0, reasoning_share=1.0)
    extra = {"generationConfig": {"thinkingConfig": {"includeThoughts": thoughts}}}
    response, chunks = await _sse_chunks(client, _body(**extra))
    sim.reset()
    unary = (await _post(client, _body(**extra))).json()

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content.endswith(b"\r\n\r\n")
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert all(len(c["candidates"][0]["content"]["parts"]) == 1 for c in chunks)
    assert _fold(chunks) == unary


async def test_without_alt_sse_the_stream_is_one_json_array(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    received: list[bytes] = []
    async with client.stream(
        "POST", _path("streamGenerateContent"), json=_body(), headers=KEY
    ) as response:
        async for piece in response.aiter_bytes():
            received.append(piece)
    raw = b"".join(received)
    sim.reset()
    unary = (await _post(client, _body())).json()

    assert response.headers["content-type"].startswith("application/json")
    assert raw.startswith(b"[{")
    assert raw.endswith(b"}]")
    assert b",\r\n{" in raw
    assert _fold(json.loads(raw)) == unary


async def test_v1_paths_and_the_key_in_the_query_work(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{_path(version='v1')}?key=AIza-test", json=_body())
    assert response.status_code == 200
    _, chunks = await _sse_chunks(client, _body(), version="v1")
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_a_request_without_key_or_contents_is_refused_the_google_way(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(_path(), json=_body())
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    response = await _post(client, {"contents": []})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "contents" in response.json()["error"]["message"]
    unknown = await client.post("/v1beta/models/x:embedSomething", json=_body(), headers=KEY)
    assert unknown.status_code == 404


async def test_max_output_tokens_cuts_the_answer_with_max_tokens(
    client: httpx.AsyncClient,
) -> None:
    body = (await _post(client, _body(generationConfig={"maxOutputTokens": 3}))).json()
    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert body["usageMetadata"]["candidatesTokenCount"] == 3


# -- tiers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "served"),
    [
        (None, None, "standard"),
        ("serviceTier", "flex", "flex"),
        ("service_tier", "FLEX", "flex"),
        ("serviceTier", "SERVICE_TIER_PRIORITY", "priority"),
        ("serviceTier", "standard", "standard"),
        ("serviceTier", "unspecified", "standard"),
    ],
)
async def test_the_served_tier_is_the_x_gemini_service_tier_header(
    sim: Simulator, client: httpx.AsyncClient, field: str | None, value: str | None, served: str
) -> None:
    body = _body(**({field: value} if field else {}))
    response = await _post(client, body)
    assert response.headers["x-gemini-service-tier"] == served
    assert sim.records[-1].service_tier == value
    assert sim.records[-1].served_tier == served
    streamed, _ = await _sse_chunks(client, body)
    assert streamed.headers["x-gemini-service-tier"] == served


async def test_a_downgraded_request_reports_the_tier_it_got(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("priority", serve_tier_instead="standard")
    response = await _post(client, _body(serviceTier="priority"))
    assert response.headers["x-gemini-service-tier"] == "standard"


async def test_an_unknown_tier_is_400(client: httpx.AsyncClient) -> None:
    response = await _post(client, _body(serviceTier="turbo"))
    assert response.status_code == 400
    assert "service_tier" in response.json()["error"]["message"]


@pytest.mark.parametrize(("status", "name"), [(None, "UNAVAILABLE"), (429, "RESOURCE_EXHAUSTED")])
async def test_flex_refusals_are_googles_capacity_errors(
    sim: Simulator, client: httpx.AsyncClient, status: int | None, name: str
) -> None:
    sim.config = SimConfig().with_tier(
        "flex", provider="gemini", refusal_rate=1.0, refusal_status=status
    )
    for path in (_path(), _path("streamGenerateContent") + "?alt=sse"):
        response = await client.post(path, json=_body(serviceTier="flex"), headers=KEY)
        assert response.status_code == (status or 503)
        assert response.json()["error"]["status"] == name
        assert "x-gemini-service-tier" not in response.headers
        assert sim.records[-1].outcome is Outcome.REFUSED
    assert (await _post(client, _body())).status_code == 200


async def test_the_start_delay_holds_the_first_chunk(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("flex", start_delay="fixed:300ms")
    _, chunks = await _sse_chunks(client, _body(serviceTier="flex"))
    assert chunks
    record = sim.records[-1]
    assert record.start_delay == pytest.approx(0.3)
    assert record.first_output_time is not None
    assert record.first_output_time - record.arrival_time >= 0.29


# -- tools and schemas -------------------------------------------------------------------------


@pytest.mark.parametrize("stream_it", [False, True], ids=["unary", "stream"])
async def test_mode_any_answers_function_calls_valid_against_their_declarations(
    client: httpx.AsyncClient, stream_it: bool
) -> None:
    counts = set()
    for _ in range(16):
        body = _body(**_tools("ANY"))
        if stream_it:
            _, chunks = await _sse_chunks(client, body)
            answer = _fold(chunks)
        else:
            answer = (await _post(client, body)).json()
        found = _calls(answer)
        assert found
        counts.add(len(found))
        for call in found:
            assert call["id"]
            jsonschema.validate(call["args"], SCHEMAS[call["name"]])
        assert answer["candidates"][0]["finishReason"] == "STOP"
    assert counts == {1, 2}


async def test_allowed_function_names_limit_the_calls(client: httpx.AsyncClient) -> None:
    for _ in range(8):
        answer = (await _post(client, _body(**_tools("ANY", ["lookup"])))).json()
        assert {call["name"] for call in _calls(answer)} == {"lookup"}


async def test_auto_sometimes_calls_and_none_never_does(client: httpx.AsyncClient) -> None:
    auto = [bool(_calls((await _post(client, _body(**_tools()))).json())) for _ in range(16)]
    assert any(auto)
    assert not all(auto)
    for _ in range(8):
        assert _calls((await _post(client, _body(**_tools("NONE")))).json()) == []


async def test_a_function_response_turn_is_answered_with_text(client: httpx.AsyncClient) -> None:
    contents = [
        *PROMPT,
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 21}}}],
        },
    ]
    for _ in range(6):
        answer = (await _post(client, {"contents": contents, **_tools("ANY")})).json()
        assert _calls(answer) == []
        assert _text(answer)


@pytest.mark.parametrize("spelling", ["responseJsonSchema", "responseSchema", "snake_case"])
async def test_a_response_schema_makes_the_text_valid_json(
    client: httpx.AsyncClient, spelling: str
) -> None:
    if spelling == "snake_case":
        config = {"response_mime_type": "application/json", "response_json_schema": REPORT}
        schema = REPORT
    elif spelling == "responseJsonSchema":
        config = {"responseMimeType": "application/json", "responseJsonSchema": SEARCH}
        schema = SEARCH
    else:
        openapi = {
            "type": "OBJECT",
            "properties": {"term": {"type": "STRING"}, "limit": {"type": "INTEGER"}},
            "required": ["term", "limit"],
            "propertyOrdering": ["limit", "term"],
        }
        config = {"responseMimeType": "application/json", "responseSchema": openapi}
        schema = {
            "type": "object",
            "properties": {"term": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["term", "limit"],
        }
    for _ in range(5):
        answer = (await _post(client, _body(generationConfig=config))).json()
        value = json.loads(_text(answer))
        jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    if spelling == "responseSchema":
        assert list(value) == ["limit", "term"]


async def test_the_same_seed_gives_the_same_bytes() -> None:
    runs = []
    for _ in range(2):
        async with (
            Simulator(SimConfig(seed=8)) as simulator,
            httpx.AsyncClient(base_url=simulator.url) as http,
        ):
            run = []
            for body in (_body(), _body(**_tools()), _body(**_tools("ANY")), _body(**_tools())):
                run.append((await _post(http, body)).content)
                response = await http.post(
                    _path("streamGenerateContent") + "?alt=sse", json=body, headers=KEY
                )
                run.append(response.content)
            runs.append(run)
    assert runs[0] == runs[1]


# -- counting tokens ---------------------------------------------------------------------------


async def test_count_tokens_matches_the_prompt_token_count_of_the_request(
    client: httpx.AsyncClient,
) -> None:
    contents = [{"role": "user", "parts": [{"text": "How many tokens is this sentence? " * 20}]}]
    counted = await client.post(_path("countTokens"), json={"contents": contents}, headers=KEY)
    usage = (await _post(client, {"contents": contents})).json()["usageMetadata"]

    assert counted.status_code == 200
    assert counted.json()["totalTokens"] == usage["promptTokenCount"]
    assert counted.json()["promptTokensDetails"] == usage["promptTokensDetails"]

    request = {"model": f"models/{MODEL}", "contents": contents, **_tools()}
    whole = await client.post(
        _path("countTokens"), json={"generateContentRequest": request}, headers=KEY
    )
    tooled = (await _post(client, {"contents": contents, **_tools()})).json()["usageMetadata"]
    assert whole.json()["totalTokens"] == tooled["promptTokenCount"]
    assert whole.json()["totalTokens"] > counted.json()["totalTokens"]


async def test_count_tokens_wants_a_key_and_contents(client: httpx.AsyncClient) -> None:
    assert (await client.post(_path("countTokens"), json={"contents": PROMPT})).status_code == 401
    response = await client.post(_path("countTokens"), json={}, headers=KEY)
    assert response.status_code == 400


async def test_anthropic_count_tokens_matches_the_messages_request(
    client: httpx.AsyncClient,
) -> None:
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    prompt = {
        "model": "claude-sonnet-4-5",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Count these tokens, please. " * 10}],
    }
    counted = await client.post("/v1/messages/count_tokens", json=prompt, headers=headers)
    answer = await client.post("/v1/messages", json={**prompt, "max_tokens": 512}, headers=headers)

    usage = answer.json()["usage"]
    total = (
        usage["input_tokens"]
        + usage["cache_creation_input_tokens"]
        + usage["cache_read_input_tokens"]
    )
    assert counted.status_code == 200
    assert counted.json() == {"input_tokens": total}
    missing = await client.post("/v1/messages/count_tokens", json=prompt, headers={})
    assert missing.status_code == 401
