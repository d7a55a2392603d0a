"""The official SDKs, pointed at the simulator, get what they get from the providers: parsed
structured outputs, tool calls and round trips, streams and token counts."""

from __future__ import annotations

import enum
import json
from typing import Any

import anthropic
import openai
import pydantic
import pytest
from google import genai
from google.genai import types as genai_types

from flexgrpc.sim import Simulator


class Priority(enum.StrEnum):
    LOW = "low"
    HIGH = "high"


class Assignee(pydantic.BaseModel):
    name: str
    email: str | None


class Note(pydantic.BaseModel):
    title: str
    priority: Priority
    assignees: list[Assignee]
    reviewer: Assignee | None


class Ticket(Note):
    estimate_hours: float = pydantic.Field(ge=0, le=40)


WEATHER_TOOL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}


def _openai(sim: Simulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="sk-test", max_retries=0)


def _anthropic(sim: Simulator) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0)


def _genai(sim: Simulator) -> genai.Client:
    return genai.Client(
        api_key="AIza-test", http_options={"base_url": sim.url, "api_version": "v1beta"}
    )


# -- openai ------------------------------------------------------------------------------------


async def test_openai_chat_parse_returns_the_pydantic_model(sim: Simulator) -> None:
    async with _openai(sim) as client:
        for _ in range(4):
            completion = await client.chat.completions.parse(
                model="gpt-4.1",
                messages=[{"role": "user", "content": "File a ticket."}],
                response_format=Ticket,
            )
            parsed = completion.choices[0].message.parsed
            assert isinstance(parsed, Ticket)
            assert parsed.assignees


async def test_openai_responses_parse_returns_the_pydantic_model(sim: Simulator) -> None:
    async with _openai(sim) as client:
        response = await client.responses.parse(
            model="gpt-4.1", input="File a ticket.", text_format=Ticket
        )
        assert isinstance(response.output_parsed, Ticket)


async def test_openai_streamed_parse_returns_the_model(sim: Simulator) -> None:
    async with (
        _openai(sim) as client,
        client.chat.completions.stream(
            model="gpt-4.1",
            messages=[{"role": "user", "content": "File a ticket."}],
            response_format=Ticket,
        ) as stream,
    ):
        final = await stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Ticket)


async def test_openai_tool_call_round_trip_ends_in_text(sim: Simulator) -> None:
    tools: list[Any] = [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": WEATHER_TOOL, "strict": True},
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    async with _openai(sim) as client:
        first = await client.chat.completions.create(
            model="gpt-4.1", messages=messages, tools=tools, tool_choice="required"
        )
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls
        call = choice.message.tool_calls[0]
        assert call.type == "function"
        arguments = json.loads(call.function.arguments)
        assert arguments["unit"] in ("celsius", "fahrenheit")

        messages.append(choice.message.model_dump(exclude_none=True))
        for tool_call in choice.message.tool_calls:
            messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": "21C"})
        second = await client.chat.completions.create(
            model="gpt-4.1", messages=messages, tools=tools, tool_choice="required"
        )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content


async def test_openai_responses_stream_carries_function_call_arguments(sim: Simulator) -> None:
    tools: list[Any] = [{"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL}]
    async with (
        _openai(sim) as client,
        client.responses.stream(
            model="gpt-4.1", input="Weather?", tools=tools, tool_choice="required"
        ) as stream,
    ):
        deltas = [
            event.delta
            async for event in stream
            if event.type == "response.function_call_arguments.delta"
        ]
        final = await stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert calls
    assert "".join(deltas) == "".join(call.arguments for call in calls)


# -- anthropic ---------------------------------------------------------------------------------


async def test_anthropic_tool_use_round_trip_ends_in_text(sim: Simulator) -> None:
    tools: list[Any] = [{"name": "get_weather", "input_schema": WEATHER_TOOL}]
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    async with _anthropic(sim) as client:
        first = await client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=256,
            messages=messages,
            tools=tools,
            tool_choice={"type": "any"},
        )
        assert first.stop_reason == "tool_use"
        uses = [block for block in first.content if block.type == "tool_use"]
        assert uses
        assert uses[0].input["unit"] in ("celsius", "fahrenheit")  # type: ignore[index]

        messages.append({"role": "assistant", "content": first.content})
        results = [{"type": "tool_result", "tool_use_id": use.id, "content": "21C"} for use in uses]
        messages.append({"role": "user", "content": results})
        second = await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=256, messages=messages, tools=tools
        )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"


async def test_anthropic_stream_assembles_the_tool_input(sim: Simulator) -> None:
    async with (
        _anthropic(sim) as client,
        client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=256,
            messages=[{"role": "user", "content": "Weather?"}],
            tools=[{"name": "get_weather", "input_schema": WEATHER_TOOL}],
            tool_choice={"type": "tool", "name": "get_weather"},
        ) as stream,
    ):
        message = await stream.get_final_message()
    use = message.content[0]
    assert use.type == "tool_use"
    assert set(use.input) == {"city", "unit"}  # type: ignore[arg-type]


async def test_anthropic_parse_returns_the_pydantic_model(sim: Simulator) -> None:
    async with _anthropic(sim) as client:
        message = await client.messages.parse(
            model="claude-sonnet-4-5",
            max_tokens=1024,
            messages=[{"role": "user", "content": "File a ticket."}],
            # The SDK moves numeric bounds out of the schema it sends (into descriptions), so
            # a model with bounds could not be checked against what the API was asked for.
            output_format=Note,
        )
    assert isinstance(message.parsed_output, Note)


async def test_anthropic_count_tokens_counts_the_prompt(sim: Simulator) -> None:
    messages: list[Any] = [{"role": "user", "content": "Count me."}]
    async with _anthropic(sim) as client:
        counted = await client.messages.count_tokens(model="claude-sonnet-4-5", messages=messages)
        message = await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=messages
        )
    usage = message.usage
    total = (
        usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )
    assert counted.input_tokens == total


# -- google-genai ------------------------------------------------------------------------------


async def test_genai_response_schema_gives_parsed(sim: Simulator) -> None:
    client = _genai(sim)
    for _ in range(3):
        response = await client.aio.models.generate_content(
            model="gemini-2.5-flash",
            contents="File a ticket.",
            config=genai_types.GenerateContentConfig(
                response_mime_type="application/json", response_schema=Ticket
            ),
        )
        assert isinstance(response.parsed, Ticket)


async def test_genai_streams_text(sim: Simulator) -> None:
    client = _genai(sim)
    pieces = [
        chunk.text or ""
        async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Say hello."
        )
    ]
    assert len(pieces) > 1
    sim.reset()
    whole = await client.aio.models.generate_content(
        model="gemini-2.5-flash", contents="Say hello."
    )
    assert "".join(pieces) == whole.text


async def test_genai_function_declarations_give_function_calls(sim: Simulator) -> None:
    client = _genai(sim)
    declaration = genai_types.FunctionDeclaration(
        name="get_weather", parameters_json_schema=WEATHER_TOOL
    )
    config = genai_types.GenerateContentConfig(
        tools=[genai_types.Tool(function_declarations=[declaration])],
        tool_config=genai_types.ToolConfig(
            function_calling_config=genai_types.FunctionCallingConfig(mode="ANY")
        ),
    )
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash", contents="Weather in Paris?", config=config
    )
    assert response.function_calls
    call = response.function_calls[0]
    assert call.name == "get_weather"
    assert call.args is not None
    assert call.args["unit"] in ("celsius", "fahrenheit")


@pytest.mark.parametrize("tier", ["flex", "priority"])
async def test_genai_service_tier_reaches_the_simulator_and_comes_back(
    sim: Simulator, tier: str
) -> None:
    client = _genai(sim)
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents="Hello",
        config=genai_types.GenerateContentConfig(service_tier=tier),  # type: ignore[arg-type]
    )
    assert sim.records[-1].served_tier == tier
    assert response.sdk_http_response is not None
    assert response.sdk_http_response.headers is not None
    assert response.sdk_http_response.headers["x-gemini-service-tier"] == tier


async def test_genai_count_tokens_counts_the_prompt(sim: Simulator) -> None:
    client = _genai(sim)
    counted = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents="Count me.")
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash", contents="Count me."
    )
    assert response.usage_metadata is not None
    assert counted.total_tokens == response.usage_metadata.prompt_token_count
