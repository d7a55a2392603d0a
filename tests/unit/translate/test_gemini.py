"""Chat Completions ⇄ Gemini Interactions (steps schema), against recorded native payloads."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from flexgrpc.errors import FlexError
from tests.unit.translate.chat_pairs import GeminiTranslator, chat_call_id, split_call_id
from tests.unit.translate.support import (
    NOW,
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
    streamed_text,
)

MODEL = "gemini-3-flash-preview"
SIGNATURE = "CsQBAb4+9vsX2m1kQ8pR7nT3yVb0cWd5eFh6gJi9kLl2mNn4oPp="


@pytest.fixture
def translator() -> GeminiTranslator:
    return GeminiTranslator(clock=clock)


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], **fields}


# -- request ---------------------------------------------------------------------------------


def test_request_matches_the_recorded_native_body(translator: GeminiTranslator) -> None:
    native = translator.request(load_json("gemini", "chat_request.json"))

    assert native == load_json("gemini", "native_request.json")


def test_a_plain_request_is_stateless_and_minimal(translator: GeminiTranslator) -> None:
    native = translator.request(
        chat(stream=True, service_tier="flex", start_within="00h-00m-30s", user="u1")
    )

    assert native == {
        "model": MODEL,
        "input": [{"type": "user_input", "content": [{"type": "text", "text": "Hi"}]}],
        "store": False,
    }


def test_store_true_is_kept(translator: GeminiTranslator) -> None:
    assert translator.request(chat(store=True))["store"] is True


def test_a_data_url_image_is_sent_inline(translator: GeminiTranslator) -> None:
    content = [{"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}}]

    native = translator.request(chat(messages=[{"role": "user", "content": content}]))

    assert native["input"][0]["content"] == [
        {"type": "image", "data": "UklGRg==", "mime_type": "image/webp"}
    ]


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, {"type": "text", "mime_type": "application/json"}),
        (
            {"type": "json_schema", "json_schema": {"name": "c", "schema": {"type": "object"}}},
            {"type": "text", "mime_type": "application/json", "schema": {"type": "object"}},
        ),
    ],
)
def test_json_response_formats_become_a_json_text_format(
    translator: GeminiTranslator, response_format: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert translator.request(chat(response_format=response_format))["response_format"] == expected


def test_text_response_format_adds_nothing(translator: GeminiTranslator) -> None:
    assert "response_format" not in translator.request(chat(response_format={"type": "text"}))


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "any"),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "auto",
                    "tools": [{"type": "function", "function": {"name": "get_time"}}],
                },
            },
            {"allowed_tools": {"mode": "auto", "tools": ["get_time"]}},
        ),
    ],
)
def test_tool_choice_goes_to_generation_config(
    translator: GeminiTranslator, tool_choice: Any, expected: Any
) -> None:
    native = translator.request(chat(tool_choice=tool_choice))

    assert native["generation_config"]["tool_choice"] == expected


def test_tool_results_name_their_function_and_shed_the_signature(
    translator: GeminiTranslator,
) -> None:
    native = translator.request(load_json("gemini", "chat_request.json"))

    [result] = [step for step in native["input"] if step["type"] == "function_result"]
    assert result["call_id"] == "k3xq8v2m"
    assert result["name"] == "get_weather"


def test_a_call_without_a_signature_sends_no_thought_step(translator: GeminiTranslator) -> None:
    turn = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }

    native = translator.request(chat(messages=[{"role": "user", "content": "x"}, turn]))

    assert [step["type"] for step in native["input"]] == ["user_input", "function_call"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"n": 3}, "n"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"functions": [{"name": "f"}]}, "functions"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}
                ]
            },
            "messages[0].content[0]",
        ),
    ],
)
def test_chat_features_gemini_cannot_honour_are_refused_with_the_field(
    translator: GeminiTranslator, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(FlexError) as caught:
        translator.request(chat(**fields))

    assert caught.value.code == "unsupported_feature"
    assert caught.value.field == field
    assert "Gemini" in caught.value.message


def test_call_ids_carry_and_release_the_thought_signature() -> None:
    assert split_call_id(chat_call_id("k3xq8v2m", SIGNATURE)) == ("k3xq8v2m", SIGNATURE)
    assert split_call_id(chat_call_id("k3xq8v2m", None)) == ("k3xq8v2m", None)


# -- non-streamed response -------------------------------------------------------------------


def test_a_text_interaction_becomes_a_chat_completion(translator: GeminiTranslator) -> None:
    completion = translator.response(load_json("gemini", "response_text.json"), model=MODEL)

    parsed = ChatCompletion.model_validate(completion)
    assert parsed.id.startswith("v1_")
    assert parsed.created == int(NOW)
    assert parsed.choices[0].message.content == ", ".join(str(n) for n in range(1, 26))
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.service_tier == "flex"
    usage = parsed.usage
    assert usage is not None
    assert usage.prompt_tokens == 9
    assert usage.completion_tokens == 73 + 212  # thought tokens are reported beside output
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 212
    assert usage.total_tokens == 294


def test_function_calls_become_tool_calls_and_the_first_carries_the_signature(
    translator: GeminiTranslator,
) -> None:
    completion = translator.response(load_json("gemini", "response_tool_use.json"), model=MODEL)

    parsed = ChatCompletion.model_validate(completion)
    message = parsed.choices[0].message
    assert message.content == "Let me look up both cities."
    calls = function_calls(message)
    assert [split_call_id(c.id) for c in calls] == [("k3xq8v2m", SIGNATURE), ("w7ty0c5n", None)]
    assert [json.loads(call.function.arguments) for call in calls] == [
        {"location": "Paris, France"},
        {"location": "Tokyo, Japan", "day": "today"},
    ]
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert parsed.service_tier == "default"
    usage = parsed.usage
    assert usage is not None
    assert usage.prompt_tokens == 1520
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 1024
    assert usage.completion_tokens == 46 + 80
    assert usage.total_tokens == 1646


def test_the_next_request_returns_the_signature_before_the_call(
    translator: GeminiTranslator,
) -> None:
    answer = translator.response(load_json("gemini", "response_tool_use.json"), model=MODEL)
    message = answer["choices"][0]["message"]
    results = [
        {"role": "tool", "tool_call_id": call["id"], "content": "18C"}
        for call in message["tool_calls"]
    ]

    native = translator.request(
        chat(messages=[{"role": "user", "content": "Weather?"}, message, *results])
    )

    assert [step["type"] for step in native["input"]] == [
        "user_input",
        "model_output",
        "thought",
        "function_call",
        "function_call",
        "function_result",
        "function_result",
    ]
    assert native["input"][2] == {"type": "thought", "signature": SIGNATURE}
    assert [s["call_id"] for s in native["input"][5:]] == ["k3xq8v2m", "w7ty0c5n"]


@pytest.mark.parametrize(
    ("status", "finish_reason"),
    [("completed", "stop"), ("incomplete", "length"), ("budget_exceeded", "length")],
)
def test_interaction_status_maps_to_a_finish_reason(
    translator: GeminiTranslator, status: str, finish_reason: str
) -> None:
    native = load_json("gemini", "response_text.json")
    native["status"] = status

    assert translator.response(native, model=MODEL)["choices"][0]["finish_reason"] == finish_reason


def test_the_openai_sdk_reads_the_translated_completion(translator: GeminiTranslator) -> None:
    completion = translator.response(load_json("gemini", "response_tool_use.json"), model=MODEL)

    answer = sdk_completion(completion)

    assert answer.choices[0].message.tool_calls is not None
    assert len(answer.choices[0].message.tool_calls) == 2


# -- stream ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["text", "tool_use"])
def test_stream_chunks_are_valid_with_a_stable_identity(
    translator: GeminiTranslator, name: str
) -> None:
    frames = run_stream(
        translator.stream(model=MODEL, include_usage=True),
        load_events("gemini", f"stream_{name}.sse"),
    )

    parsed = chunks(frames)
    assert payloads(frames)[-1] == "[DONE]"
    expected_id = load_json("gemini", f"response_{name}.json")["id"]
    assert {(c.id, c.created, c.model) for c in parsed} == {(expected_id, int(NOW), MODEL)}
    assert parsed[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in parsed[1:] if c.choices)
    assert parsed[-1].usage is not None


def test_streamed_function_calls_arrive_as_indexed_tool_call_deltas(
    translator: GeminiTranslator,
) -> None:
    frames = run_stream(
        translator.stream(model=MODEL, include_usage=False),
        load_events("gemini", "stream_tool_use.sse"),
    )

    calls = [
        call
        for chunk in chunks(frames)
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
    ]
    starts = [call for call in calls if call.id is not None]
    assert [(c.index, split_call_id(c.id or "")) for c in starts] == [
        (0, ("k3xq8v2m", SIGNATURE)),
        (1, ("w7ty0c5n", None)),
    ]
    assert all(c.function is not None and c.function.name == "get_weather" for c in starts)
    by_index: dict[int, str] = {}
    for call in calls:
        by_index[call.index] = by_index.get(call.index, "") + (
            call.function.arguments or "" if call.function else ""
        )
    assert {i: json.loads(a) for i, a in by_index.items()} == {
        0: {"location": "Paris, France"},
        1: {"location": "Tokyo, Japan", "day": "today"},
    }


def test_thought_text_is_not_shown_as_answer_text(translator: GeminiTranslator) -> None:
    events = [
        sse("step.start", {"event_type": "step.start", "index": 0, "step": {"type": "thought"}}),
        sse(
            "step.delta",
            {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": "Hmm"}},
        ),
        sse(
            "step.start", {"event_type": "step.start", "index": 1, "step": {"type": "model_output"}}
        ),
        sse(
            "step.delta",
            {"event_type": "step.delta", "index": 1, "delta": {"type": "text", "text": "Hi!"}},
        ),
        sse(
            "interaction.completed",
            {
                "event_type": "interaction.completed",
                "interaction": {"id": "v1_x", "status": "completed"},
            },
        ),
    ]

    frames = run_stream(translator.stream(model=MODEL, include_usage=False), events)

    assert streamed_text(frames) == "Hi!"


def test_an_upstream_error_event_ends_the_stream_in_band(translator: GeminiTranslator) -> None:
    error = {"event_type": "error", "error": {"code": "unavailable", "message": "Model overloaded"}}
    events = [*load_events("gemini", "stream_text.sse")[:7], sse("error", error)]

    frames = run_stream(translator.stream(model=MODEL, include_usage=True), events)

    assert payloads(frames)[-1]["error"]["message"] == "Model overloaded"
    with pytest.raises(openai.APIError, match="Model overloaded"):
        list(sdk_stream(frames, MODEL))


def test_a_failed_interaction_is_an_in_band_error(translator: GeminiTranslator) -> None:
    failed = {
        "event_type": "interaction.completed",
        "interaction": {"id": "v1_x", "status": "failed"},
    }
    events = [*load_events("gemini", "stream_text.sse")[:7], sse("interaction.completed", failed)]

    frames = run_stream(translator.stream(model=MODEL, include_usage=True), events)

    assert "failed" in payloads(frames)[-1]["error"]["message"]
    assert b"[DONE]" not in b"".join(frames)
