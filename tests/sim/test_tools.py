"""Tools and structured output on the four fixed-path surfaces, streamed and not: calls whose
arguments validate against the tool's schema, the tool choices, parallel calls, round trips
that end in text, and JSON text valid against the requested schema."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from flexgrpc.sim import SimConfig, Simulator
from tests.sim.surfaces import SURFACES, accumulate, stream, without_timestamps
from tests.sim.tool_surfaces import (
    CALL_STOP,
    REPORT,
    TOOLS,
    add_schema,
    add_tool_result,
    add_tools,
    calls,
    forbid_parallel,
    set_choice,
    stop_reason,
    text,
)

ALL = sorted(SURFACES)
MODES = [False, True]
MODE_IDS = ["unary", "stream"]


async def _answer(client: httpx.AsyncClient, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The non-streamed JSON, or what the stream accumulates to."""
    surface = SURFACES[name]
    if body.get("stream"):
        response, events = await stream(client, surface, body)
        assert response.status_code == 200
        return accumulate(surface, events)
    response = await client.post(surface.path, json=body, headers=surface.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _body(name: str, *, stream_it: bool, choice: str, tool: str | None = None) -> dict[str, Any]:
    body = SURFACES[name].body(stream=stream_it)
    add_tools(name, body)
    set_choice(name, body, choice, tool)
    return body


def _valid(schema: dict[str, Any], value: Any) -> None:
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("stream_it", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("name", ALL)
async def test_a_required_tool_choice_answers_calls_whose_arguments_fit_the_schema(
    sim: Simulator, client: httpx.AsyncClient, name: str, stream_it: bool
) -> None:
    for _ in range(6):
        answer = await _answer(client, name, _body(name, stream_it=stream_it, choice="required"))
        found = calls(name, answer)
        assert found
        for tool, arguments in found:
            _valid(TOOLS[tool], arguments)
        assert text(name, answer) is None
        assert stop_reason(name, answer) == CALL_STOP[name]


@pytest.mark.parametrize("stream_it", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("name", ALL)
async def test_a_named_tool_choice_calls_only_that_tool(
    client: httpx.AsyncClient, name: str, stream_it: bool
) -> None:
    for _ in range(6):
        body = _body(name, stream_it=stream_it, choice="named", tool="search")
        found = calls(name, await _answer(client, name, body))
        assert found
        assert {tool for tool, _ in found} == {"search"}


@pytest.mark.parametrize("name", ALL)
async def test_an_auto_tool_choice_sometimes_calls_and_sometimes_answers_text(
    client: httpx.AsyncClient, name: str
) -> None:
    outcomes = []
    for _ in range(16):
        answer = await _answer(client, name, _body(name, stream_it=False, choice="auto"))
        outcomes.append(bool(calls(name, answer)))
        if not outcomes[-1]:
            assert text(name, answer)
    assert any(outcomes)
    assert not all(outcomes)


@pytest.mark.parametrize("stream_it", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("name", ALL)
async def test_a_none_tool_choice_never_calls(
    client: httpx.AsyncClient, name: str, stream_it: bool
) -> None:
    for _ in range(10):
        answer = await _answer(client, name, _body(name, stream_it=stream_it, choice="none"))
        assert calls(name, answer) == []
        assert text(name, answer)


@pytest.mark.parametrize("stream_it", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("name", ALL)
async def test_a_tool_result_turn_is_answered_with_text(
    client: httpx.AsyncClient, name: str, stream_it: bool
) -> None:
    for _ in range(6):
        body = _body(name, stream_it=stream_it, choice="required")
        add_tool_result(name, body)
        answer = await _answer(client, name, body)
        assert calls(name, answer) == []
        assert text(name, answer)
        assert stop_reason(name, answer) != CALL_STOP[name] or name == "responses"


@pytest.mark.parametrize("name", ALL)
async def test_parallel_calls_appear(client: httpx.AsyncClient, name: str) -> None:
    counts = set()
    for _ in range(20):
        answer = await _answer(client, name, _body(name, stream_it=False, choice="required"))
        counts.add(len(calls(name, answer)))
    assert counts == {1, 2}


@pytest.mark.parametrize("name", ["responses", "chat_completions", "messages"])
async def test_parallel_calls_can_be_turned_off(client: httpx.AsyncClient, name: str) -> None:
    for _ in range(20):
        body = _body(name, stream_it=False, choice="required")
        forbid_parallel(name, body)
        assert len(calls(name, await _answer(client, name, body))) == 1


@pytest.mark.parametrize("name", ALL)
async def test_a_streamed_tool_call_is_what_the_non_streamed_answer_holds(
    sim: Simulator, client: httpx.AsyncClient, name: str
) -> None:
    sim.config = SimConfig(seed=4, reasoning_share=1.0)
    model = SURFACES[name].reasoning_model
    for number in range(1, 9):
        sim.reset()
        for _ in range(number - 1):  # walk to request `number` so both get the same draws
            await _answer(client, name, _body(name, stream_it=False, choice="required"))
        body = _body(name, stream_it=True, choice="required")
        body["model"] = model
        streamed = await _answer(client, name, body)
        sim.reset()
        for _ in range(number - 1):
            await _answer(client, name, _body(name, stream_it=False, choice="required"))
        body = _body(name, stream_it=False, choice="required")
        body["model"] = model
        unary = await _answer(client, name, body)
        assert without_timestamps(streamed) == without_timestamps(unary)


@pytest.mark.parametrize("name", ALL)
async def test_usage_counts_the_tool_call_tokens(client: httpx.AsyncClient, name: str) -> None:
    answer = await _answer(client, name, _body(name, stream_it=False, choice="required"))
    usage = answer["usage"]
    output = {
        "responses": "output_tokens",
        "chat_completions": "completion_tokens",
        "messages": "output_tokens",
        "interactions": "total_output_tokens",
    }[name]
    arguments = sum(len(json.dumps(a, separators=(",", ":"))) for _, a in calls(name, answer))
    assert usage[output] >= arguments // 4


# -- structured output -------------------------------------------------------------------------

SCHEMAS = {
    "report": REPORT,
    "tools": TOOLS["search"],
    "list": {"type": "array", "items": {"type": "integer", "minimum": 3}, "minItems": 2},
}


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
@pytest.mark.parametrize("stream_it", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("name", ALL)
async def test_structured_output_is_json_valid_against_the_schema(
    client: httpx.AsyncClient, name: str, stream_it: bool, schema_name: str
) -> None:
    schema = SCHEMAS[schema_name]
    for _ in range(5):
        body = SURFACES[name].body(stream=stream_it)
        add_schema(name, body, schema)
        answer = await _answer(client, name, body)
        content = text(name, answer)
        assert content is not None
        _valid(schema, json.loads(content))


async def test_json_object_mode_answers_a_json_object(client: httpx.AsyncClient) -> None:
    body = SURFACES["chat_completions"].body()
    body["response_format"] = {"type": "json_object"}
    content = text("chat_completions", await _answer(client, "chat_completions", body))
    assert content is not None
    assert isinstance(json.loads(content), dict)


async def test_tool_result_with_a_schema_answers_json(client: httpx.AsyncClient) -> None:
    body = _body("messages", stream_it=False, choice="auto")
    add_tool_result("messages", body)
    add_schema("messages", body, REPORT)
    content = text("messages", await _answer(client, "messages", body))
    assert content is not None
    _valid(REPORT, json.loads(content))


async def test_a_cut_short_json_answer_says_so(client: httpx.AsyncClient) -> None:
    body = SURFACES["chat_completions"].body(max_tokens=3)
    add_schema("chat_completions", body, REPORT)
    answer = await _answer(client, "chat_completions", body)
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 3


# -- reproducibility ---------------------------------------------------------------------------


async def _raw_run(sim: Simulator, name: str) -> list[bytes]:
    surface = SURFACES[name]
    seen = []
    async with httpx.AsyncClient(base_url=sim.url) as http:
        for index in range(6):
            body = _body(name, stream_it=index % 2 == 1, choice="auto")
            if index == 4:
                add_schema(name, body, REPORT)
            response = await http.post(surface.path, json=body, headers=surface.headers)
            content = response.content
            for key in (b'"created_at":', b'"created":', b'"updated":'):
                # Timestamps are the arrival time; everything else must repeat byte for byte.
                content = _blank_after(content, key)
            seen.append(content)
    return seen


def _blank_after(content: bytes, key: bytes) -> bytes:
    parts = content.split(key)
    out = [parts[0]]
    for part in parts[1:]:
        end = min((part.find(c) for c in (b",", b"}") if part.find(c) >= 0), default=0)
        out.append(b"0" + part[end:])
    return key.join(out)


@pytest.mark.parametrize("name", ALL)
async def test_the_same_seed_gives_the_same_tool_answers_byte_for_byte(name: str) -> None:
    runs = []
    for _ in range(2):
        async with Simulator(SimConfig(seed=21)) as simulator:
            runs.append(await _raw_run(simulator, name))
    assert runs[0] == runs[1]
    async with Simulator(SimConfig(seed=22)) as simulator:
        assert await _raw_run(simulator, name) != runs[0]
