"""The generateContent caller format's own rules: both spellings of field names, Gemini's
OpenAPI-style schemas, responses matched to calls, and signatures carried back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flexgrpc.errors import FlexError
from flexgrpc.providers.translate.generate_content import (
    GenerateContentCaller,
    json_schema,
    read_request,
)
from flexgrpc.providers.translate.ir import (
    Answer,
    FinishReason,
    JsonOutput,
    Reasoning,
    ReasoningDelta,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)

TARGET = "Anthropic (claude-*)"


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "stream": False,
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}], **fields}  # fmt: skip


def test_snake_case_names_read_as_camel_case() -> None:
    read = read_request(
        request(
            system_instruction={"parts": [{"text": "Be brief."}]},
            generation_config={"max_output_tokens": 64, "stop_sequences": ["END"]},
            tool_config={"function_calling_config": {"mode": "ANY"}},
        ),
        target=TARGET,
    )
    assert read.system == ("Be brief.",)
    assert (read.max_tokens, read.stop) == (64, ("END",))
    assert read.tool_choice == ToolChoice("required")
    assert "stream" not in read.passthrough
    assert "model" not in read.passthrough


def test_an_openapi_schema_becomes_json_schema() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
        },
        "required": ["name"],
        "propertyOrdering": ["name", "tags"],
    }
    assert json_schema(schema) == {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name"],
    }
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    read = read_request(request(generationConfig=config), target=TARGET)
    assert read.output == JsonOutput(json_schema(schema))


def test_a_response_without_an_id_answers_the_latest_call_of_its_name() -> None:
    contents = [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                         "response": {"c": 18}}}]},
    ]  # fmt: skip
    turns = read_request(request(contents=contents), target=TARGET).turns
    call, result = turns[1].parts[0], turns[2].parts[0]
    assert isinstance(call, ToolCall)
    assert isinstance(result, ToolResult)
    assert result.call_id == call.id
    assert result.content == '{"c": 18}'


def test_a_response_to_no_call_is_refused_naming_the_part() -> None:
    contents = [{"role": "user", "parts": [{"functionResponse": {"name": "x", "response": {}}}]}]
    with pytest.raises(FlexError) as caught:
        read_request(request(contents=contents), target=TARGET)
    assert caught.value.field == "contents[0].parts[0].functionResponse.id"


def test_a_thought_and_its_signature_go_back_to_their_provider() -> None:
    answer = Answer(
        id="msg_1", model="m", text="hi", tool_calls=(), finish=FinishReason.STOP,
        usage=Usage(input=3, output=2), reasoning="thinking", reasoning_signature="sig",
    )  # fmt: skip
    body = GenerateContentCaller().answer_body(answer, model="m", created=0)
    content = body["candidates"][0]["content"]
    assert content["parts"][0] == {"text": "thinking", "thought": True, "thoughtSignature": "sig"}
    turns = read_request(request(contents=[content]), target=TARGET).turns
    assert turns[0].parts[0] == Reasoning("thinking", "sig")


def test_a_streamed_signature_alone_is_a_thought_part() -> None:
    encoder = GenerateContentCaller().encoder(model="m", body={}, created=0)
    (frame,) = encoder.frames(ReasoningDelta("", "sig"), None)
    part = json.loads(frame.removeprefix(b"data: "))["candidates"][0]["content"]["parts"][0]
    assert part == {"text": "", "thought": True, "thoughtSignature": "sig"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"candidateCount": 2}, "generationConfig.candidateCount"),
        ({"responseModalities": ["IMAGE"]}, "generationConfig.responseModalities"),
        ({"responseMimeType": "text/x.enum"}, "generationConfig.responseMimeType"),
        ({"speechConfig": {}}, "generationConfig.speechConfig"),
    ],
)
def test_what_no_other_provider_has_is_refused_by_name(config: dict[str, Any], field: str) -> None:
    with pytest.raises(FlexError) as caught:
        read_request(request(generationConfig=config), target=TARGET)
    assert caught.value.code == "unsupported_feature"
    assert caught.value.field == field
