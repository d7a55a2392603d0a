"""Chat Completions ⇄ Anthropic Messages, against recorded native payloads."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from flexgrpc.errors import FlexError
from tests.unit.translate.chat_pairs import DEFAULT_MAX_TOKENS, AnthropicTranslator
from tests.unit.translate.support import (
    NOW,
    assemble_completion,
    chunks,
    clock,
    function_calls,
    load_events,
    load_json,
    payloads,
    run_stream,
    sdk_completion,
    sdk_stream,
    sse,
)

MODEL = "claude-sonnet-4-5"


@pytest.fixture
def translator() -> AnthropicTranslator:
    return AnthropicTranslator(clock=clock)


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], **fields}


# -- request ---------------------------------------------------------------------------------


def test_request_matches_the_recorded_native_body(translator: AnthropicTranslator) -> None:
    native = translator.request(load_json("anthropic", "chat_request.json"))

    assert native == load_json("anthropic", "native_request.json")


def test_request_without_a_token_limit_gets_the_documented_default(
    translator: AnthropicTranslator,
) -> None:
    assert translator.request(chat())["max_tokens"] == DEFAULT_MAX_TOKENS == 4096


def test_max_completion_tokens_wins_over_the_deprecated_max_tokens(
    translator: AnthropicTranslator,
) -> None:
    native = translator.request(chat(max_tokens=50, max_completion_tokens=70))

    assert native["max_tokens"] == 70


def test_temperature_above_anthropics_range_is_capped_at_one(
    translator: AnthropicTranslator,
) -> None:
    assert translator.request(chat(temperature=1.7))["temperature"] == 1.0
    assert translator.request(chat(temperature=0.4))["temperature"] == 0.4


def test_transport_and_router_fields_never_reach_anthropic(
    translator: AnthropicTranslator,
) -> None:
    native = translator.request(
        chat(
            stream=True,
            stream_options={"include_usage": True},
            service_tier="auto",
            start_within="00h-00m-30s",
            provider=["anthropic"],
            retry={"count": 2},
            include_cost=True,
            metadata={"team": "search"},
            prompt_cache_key="k1",
            n=1,
            logprobs=False,
            frequency_penalty=0,
        )
    )

    assert set(native) == {"model", "max_tokens", "messages"}


def test_unknown_fields_pass_through_without_overriding_mapped_ones(
    translator: AnthropicTranslator,
) -> None:
    native = translator.request(
        chat(top_k=5, thinking={"type": "adaptive"}, temperature=0.3, max_tokens=10)
    )

    assert native["top_k"] == 5
    assert native["thinking"] == {"type": "adaptive"}
    assert native["max_tokens"] == 10


@pytest.mark.parametrize(
    ("tool_choice", "expected_choice", "expected_tools"),
    [
        ("auto", {"type": "auto"}, ["get_weather", "get_time"]),
        ("none", {"type": "none"}, ["get_weather", "get_time"]),
        ("required", {"type": "any"}, ["get_weather", "get_time"]),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"type": "tool", "name": "get_time"},
            ["get_weather", "get_time"],
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "auto",
                    "tools": [{"type": "function", "function": {"name": "get_weather"}}],
                },
            },
            {"type": "auto"},
            ["get_weather"],
        ),
    ],
)
def test_tool_choice_becomes_anthropics_tool_choice(
    translator: AnthropicTranslator,
    tool_choice: Any,
    expected_choice: dict[str, Any],
    expected_tools: list[str],
) -> None:
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
        for name in ("get_weather", "get_time")
    ]

    native = translator.request(chat(tools=tools, tool_choice=tool_choice))

    assert native["tool_choice"] == expected_choice
    assert [tool["name"] for tool in native["tools"]] == expected_tools


def test_a_tool_without_parameters_gets_an_empty_object_schema(
    translator: AnthropicTranslator,
) -> None:
    native = translator.request(chat(tools=[{"type": "function", "function": {"name": "ping"}}]))

    assert native["tools"] == [
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}}
    ]


def test_reasoning_effort_and_json_schema_become_output_config(
    translator: AnthropicTranslator,
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}

    native = translator.request(
        chat(
            reasoning_effort="minimal",
            response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
        )
    )

    assert native["output_config"] == {
        "effort": "low",
        "format": {"type": "json_schema", "schema": schema},
    }


def test_an_image_url_becomes_a_url_image_block(translator: AnthropicTranslator) -> None:
    native = translator.request(
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                    ],
                }
            ]
        )
    )

    assert native["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"tools": [{"type": "custom", "custom": {"name": "grammar"}}]}, "tools[0]"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
    ],
)
def test_chat_features_anthropic_cannot_honour_are_refused_with_the_field(
    translator: AnthropicTranslator, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(FlexError) as caught:
        translator.request(chat(**fields))

    assert caught.value.code == "unsupported_feature"
    assert caught.value.field == field
    assert "Anthropic" in caught.value.message


def test_tool_call_arguments_that_are_not_a_json_object_are_rejected(
    translator: AnthropicTranslator,
) -> None:
    bad_turn = {
        "role": "assistant",
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "[1"}}
        ],
    }

    with pytest.raises(FlexError) as caught:
        translator.request(chat(messages=[{"role": "user", "content": "x"}, bad_turn]))

    assert caught.value.code == "invalid_argument"
    assert caught.value.field == "messages[1].tool_calls[0].function.arguments"


# -- non-streamed response -------------------------------------------------------------------


def test_a_text_answer_becomes_a_chat_completion(translator: AnthropicTranslator) -> None:
    completion = translator.response(load_json("anthropic", "response_text.json"), model=MODEL)

    parsed = ChatCompletion.model_validate(completion)
    assert parsed.id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert parsed.created == int(NOW)
    assert parsed.model == MODEL
    assert parsed.choices[0].message.content == (
        "Hello! I'm Claude, an AI assistant made by Anthropic. How can I help you today?"
    )
    assert parsed.choices[0].message.tool_calls is None
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.service_tier == "default"
    assert parsed.usage is not None
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens) == (12, 22)
    assert parsed.usage.total_tokens == 34


def test_a_tool_use_answer_carries_tool_calls_and_counts_cache_tokens_as_prompt(
    translator: AnthropicTranslator,
) -> None:
    completion = translator.response(load_json("anthropic", "response_tool_use.json"), model=MODEL)

    parsed = ChatCompletion.model_validate(completion)
    message = parsed.choices[0].message
    assert message.content == "I'll check the current weather in San Francisco for you."
    [call] = function_calls(message)
    assert call.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {
        "location": "San Francisco, CA",
        "unit": "fahrenheit",
    }
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert parsed.service_tier == "priority"
    usage = parsed.usage
    assert usage is not None
    assert usage.prompt_tokens == 472 + 1800 + 248
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 1800
    assert usage.prompt_tokens_details.cache_write_tokens == 248
    assert usage.completion_tokens == 89
    assert usage.total_tokens == 472 + 1800 + 248 + 89


def test_a_tool_only_answer_has_null_content(translator: AnthropicTranslator) -> None:
    native = load_json("anthropic", "response_tool_use.json")
    native["content"] = native["content"][1:]

    message = translator.response(native, model=MODEL)["choices"][0]["message"]

    assert message["content"] is None
    assert len(message["tool_calls"]) == 1


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons_map_to_chat_finish_reasons(
    translator: AnthropicTranslator, stop_reason: str, finish_reason: str
) -> None:
    native = load_json("anthropic", "response_text.json")
    native["stop_reason"] = stop_reason

    assert translator.response(native, model=MODEL)["choices"][0]["finish_reason"] == finish_reason


def test_reasoning_tokens_come_from_thinking_tokens(translator: AnthropicTranslator) -> None:
    native = load_json("anthropic", "response_text.json")
    native["content"].insert(0, {"type": "thinking", "thinking": "Hmm.", "signature": "Eq=="})
    native["usage"]["output_tokens_details"] = {"thinking_tokens": 15}

    completion = translator.response(native, model=MODEL)

    assert completion["usage"]["completion_tokens_details"]["reasoning_tokens"] == 15
    assert "Hmm." not in completion["choices"][0]["message"]["content"]


def test_the_openai_sdk_reads_the_translated_completion(translator: AnthropicTranslator) -> None:
    completion = translator.response(load_json("anthropic", "response_tool_use.json"), model=MODEL)

    answer = sdk_completion(completion)

    assert [c.function.name for c in function_calls(answer.choices[0].message)] == ["get_weather"]


# -- stream ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["text", "tool_use"])
def test_stream_chunks_are_valid_with_a_stable_identity(
    translator: AnthropicTranslator, name: str
) -> None:
    frames = run_stream(
        translator.stream(model=MODEL, include_usage=True),
        load_events("anthropic", f"stream_{name}.sse"),
    )

    parsed = chunks(frames)
    assert payloads(frames)[-1] == "[DONE]"
    assert {(c.id, c.created, c.model, c.object) for c in parsed} == {
        (
            load_json("anthropic", f"response_{name}.json")["id"],
            int(NOW),
            MODEL,
            "chat.completion.chunk",
        )
    }
    assert parsed[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in parsed[1:] if c.choices)
    assert parsed[-1].choices == []
    assert parsed[-1].usage is not None
    assert all(c.usage is None for c in parsed[:-1])


def test_tool_call_deltas_carry_index_id_name_then_argument_fragments(
    translator: AnthropicTranslator,
) -> None:
    frames = run_stream(
        translator.stream(model=MODEL, include_usage=False),
        load_events("anthropic", "stream_tool_use.sse"),
    )

    calls = [
        call
        for chunk in chunks(frames)
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
    ]
    first, *rest = calls
    assert (first.index, first.id, first.type) == (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "function")
    assert first.function is not None
    assert (first.function.name, first.function.arguments) == ("get_weather", "")
    assert all(call.index == 0 and call.id is None for call in rest)
    arguments = "".join(call.function.arguments or "" for call in rest if call.function)
    assert json.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    finish = [c.choices[0].finish_reason for c in chunks(frames) if c.choices]
    assert finish[-1] == "tool_calls"


def test_without_include_usage_there_is_no_usage_chunk(translator: AnthropicTranslator) -> None:
    frames = run_stream(
        translator.stream(model=MODEL, include_usage=False),
        load_events("anthropic", "stream_text.sse"),
    )

    assert all("usage" not in p for p in payloads(frames) if p != "[DONE]")
    assert payloads(frames)[-1] == "[DONE]"


def test_the_openai_sdk_iterates_the_translated_stream(translator: AnthropicTranslator) -> None:
    frames = run_stream(
        translator.stream(model=MODEL, include_usage=True),
        load_events("anthropic", "stream_text.sse"),
    )

    received = list(sdk_stream(frames, MODEL))

    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == (
        "Hello! I'm Claude, an AI assistant made by Anthropic. How can I help you today?"
    )
    assert received[-1].usage is not None
    assert received[-1].usage.total_tokens == 34


def test_an_upstream_error_event_ends_the_stream_in_band(translator: AnthropicTranslator) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = [*load_events("anthropic", "stream_text.sse")[:4], sse("error", error)]

    frames = run_stream(translator.stream(model=MODEL, include_usage=True), events)

    assert payloads(frames)[-1] == {
        "error": {
            "message": "Overloaded",
            "type": "api_error",
            "param": None,
            "code": "overloaded_error",
        }
    }
    with pytest.raises(openai.APIError, match="Overloaded"):
        list(sdk_stream(frames, MODEL))


def test_a_stream_cut_before_message_stop_is_never_a_silent_truncation(
    translator: AnthropicTranslator,
) -> None:
    events = load_events("anthropic", "stream_text.sse")[:-2]

    frames = run_stream(translator.stream(model=MODEL, include_usage=True), events)

    assert "error" in payloads(frames)[-1]
    assert b"[DONE]" not in b"".join(frames)
    with pytest.raises(FlexError):
        assemble_completion(frames)
