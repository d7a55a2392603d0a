"""The official ``google-genai`` SDK, unchanged, on the generateContent surface of the REST shim:
``client.models.generate_content``, ``generate_content_stream``, ``client.chats`` and
``count_tokens``, as its users call them (API version ``v1beta``, the SDK's default).

``start_within`` travels as the SDK sends unknown fields: ``http_options.extra_body`` on the
call's config, merged into the request's JSON body.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import jsonschema
import pydantic
import pytest
from google import genai
from google.genai import types

from flexgrpc.domain import Provider, TokenCounts
from flexgrpc.pricing.catalog import PriceCatalog
from flexgrpc.pricing.cost import micro_amounts, price_request
from flexgrpc.sim import SimulatorThread
from tests.compat.conftest import (
    CLAUDE_MODEL,
    GEMINI_MODEL,
    OPENAI_MODEL,
    WINDOW,
    Org,
    RestServer,
)
from tests.compat.test_translated_flex import usage_record

WEATHER = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}


class City(pydantic.BaseModel):
    name: str
    population: int


def client(rest: RestServer, api_key: str, version: str = "v1beta") -> genai.Client:
    return genai.Client(
        api_key=api_key,
        http_options={
            "base_url": rest.url,
            "api_version": version,
            "retry_options": {"attempts": 1},
        },
    )


def config(within: str = WINDOW, **fields: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        http_options=types.HttpOptions(extra_body={"start_within": within}), **fields
    )


def test_generate_content_races_flex_and_is_billed_exactly_as_an_interaction(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    api = client(rest, org.api_key)
    response = api.models.generate_content(model=GEMINI_MODEL, contents="hi", config=config())
    assert response.text
    assert response.candidates
    assert response.candidates[0].finish_reason == "STOP"
    usage = response.usage_metadata
    assert usage is not None
    assert usage.candidates_token_count
    (seen,) = sim.records
    assert seen.service_tier == "flex"
    assert seen.path == f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent"

    headers = response.sdk_http_response.headers if response.sdk_http_response else None
    assert headers is not None
    assert headers["x-flexinference-tier"] == "flex"
    record = usage_record(rest, org, headers["x-flexinference-request-id"])
    assert (record["surface"], record["outcome"], record["servedTier"]) == (
        "SURFACE_GENERATE_CONTENT", "RACE_OUTCOME_FLEX_WON", "SERVED_TIER_FLEX",
    )  # fmt: skip
    counted = billed_tokens(record)
    # What the caller was told it used is what was billed, in Gemini's decomposition.
    assert usage.prompt_token_count == counted.prompt_tokens
    assert (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0) == (
        counted.output
    )
    expected = assert_billed_at_the_flex_price(record)
    assert expected.actual == int(headers["x-flexinference-cost"])

    # An Interactions caller's flex win on the same model is billed by the same rule: the
    # record's money is the catalog's flex price of its tokens, with the same fields set.
    interactions = client(rest, org.api_key, "v1")
    interaction = interactions.interactions.with_raw_response.create(
        model=GEMINI_MODEL, input="hi", extra_body={"start_within": WINDOW}
    )
    other = usage_record(rest, org, interaction.headers["x-flexinference-request-id"])
    assert (other["surface"], other["outcome"], other["servedTier"]) == (
        "SURFACE_INTERACTIONS", "RACE_OUTCOME_FLEX_WON", "SERVED_TIER_FLEX",
    )  # fmt: skip
    assert_billed_at_the_flex_price(other)
    assert set(other["cost"]) == set(record["cost"])


def billed_tokens(record: dict[str, Any]) -> TokenCounts:
    tokens = record["tokens"]
    return TokenCounts(
        uncached_input=int(tokens.get("uncachedInputTokens", 0)),
        cached_input=int(tokens.get("cachedInputTokens", 0)),
        output=int(tokens.get("outputTokens", 0)),
        reasoning=int(tokens.get("reasoningTokens", 0)),
    )


def assert_billed_at_the_flex_price(record: dict[str, Any]) -> Any:
    expected = micro_amounts(
        price_request(
            PriceCatalog.load(), GEMINI_MODEL, "flex", billed_tokens(record), True, Provider.GEMINI
        )
    )
    cost = record["cost"]
    assert int(cost["actualMicroUsd"]) == expected.actual
    assert int(cost["standardMicroUsd"]) == expected.standard
    assert int(cost["savingsMicroUsd"]) == expected.savings > 0
    assert int(cost["commissionMicroUsd"]) == expected.commission > 0
    return expected


def test_a_fixed_tier_answer_is_gemini_s_own_bytes(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "start_within": "default"}
    reply = httpx.post(
        f"{rest.url}/v1beta/models/{GEMINI_MODEL}:generateContent",
        json=body,
        headers={"x-goog-api-key": org.api_key},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    (seen,) = sim.records
    assert seen.path == f"/v1beta/models/{GEMINI_MODEL}:generateContent"
    assert seen.service_tier == "standard"
    assert reply.json()["candidates"][0]["content"]["role"] == "model"
    assert reply.headers["x-flexinference-tier"] == "standard"


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_generate_content_stream(rest: RestServer, org: Org, version: str) -> None:
    api = client(rest, org.api_key, version)
    chunks = list(
        api.models.generate_content_stream(model=GEMINI_MODEL, contents="hi", config=config())
    )
    assert len(chunks) > 1
    assert "".join(chunk.text or "" for chunk in chunks).strip()
    last = chunks[-1]
    assert last.candidates
    assert last.candidates[0].finish_reason == "STOP"
    assert last.usage_metadata
    assert last.usage_metadata.candidates_token_count


def test_a_stream_without_alt_sse_is_one_json_array(rest: RestServer, org: Org) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "start_within": WINDOW,
        "include_cost": True,
    }
    reply = httpx.post(
        f"{rest.url}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent",
        json=body,
        headers={"x-goog-api-key": org.api_key},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    assert "content-length" not in reply.headers  # written as it comes, not gathered first
    chunks = json.loads(reply.content)
    assert isinstance(chunks, list)
    assert len(chunks) > 1
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["cost"]["currency"] == "USD"


def within(model: str) -> str:
    return "default" if model == CLAUDE_MODEL else WINDOW


@pytest.mark.parametrize("model", [GEMINI_MODEL, OPENAI_MODEL, CLAUDE_MODEL])
def test_a_chat_keeps_its_history(
    rest: RestServer, org: Org, sim: SimulatorThread, model: str
) -> None:
    api = client(rest, org.api_key)
    chat = api.chats.create(model=model, config=config(within(model)))
    assert chat.send_message("hi").text
    assert chat.send_message("and again").text
    second = sim.records[-1].body
    if model == GEMINI_MODEL:
        assert [content["role"] for content in second["contents"]] == ["user", "model", "user"]
    else:
        assert [message["role"] for message in second["messages"]] == [
            "user", "assistant", "user",
        ]  # fmt: skip


@pytest.mark.parametrize("model", [GEMINI_MODEL, OPENAI_MODEL, CLAUDE_MODEL])
def test_response_schema_gives_parsed_structured_output(
    rest: RestServer, org: Org, model: str
) -> None:
    api = client(rest, org.api_key)
    response = api.models.generate_content(
        model=model,
        contents="a city",
        config=config(within(model), response_mime_type="application/json", response_schema=City),
    )
    assert isinstance(response.parsed, City)
    jsonschema.validate(json.loads(response.text or ""), City.model_json_schema())


def weather_tool() -> types.Tool:
    declaration = types.FunctionDeclaration(
        name="get_weather", description="The weather", parameters_json_schema=WEATHER
    )
    return types.Tool(function_declarations=[declaration])


def tool_config(mode: str = "ANY") -> types.ToolConfig:
    return types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode=mode))  # type: ignore[arg-type]


@pytest.mark.parametrize("model", [GEMINI_MODEL, OPENAI_MODEL, CLAUDE_MODEL])
def test_a_tool_round_trip(rest: RestServer, org: Org, model: str) -> None:
    api = client(rest, org.api_key)
    within = "default" if model == CLAUDE_MODEL else WINDOW
    tools = [weather_tool()]
    question = types.Content(role="user", parts=[types.Part(text="weather in Paris?")])
    first = api.models.generate_content(
        model=model,
        contents=[question],
        config=config(within, tools=tools, tool_config=tool_config(),
                      automatic_function_calling={"disable": True}),
    )  # fmt: skip
    assert first.function_calls, first
    call = first.function_calls[0]
    assert call.name == "get_weather"
    jsonschema.validate(call.args, WEATHER)
    assert first.candidates
    assert first.candidates[0].content
    answer = types.Part.from_function_response(name="get_weather", response={"c": 18})
    answer.function_response.id = call.id  # type: ignore[union-attr]
    second = api.models.generate_content(
        model=model,
        contents=[
            question,
            first.candidates[0].content,
            types.Content(role="user", parts=[answer]),
        ],
        config=config(within, tools=tools, automatic_function_calling={"disable": True}),
    )
    assert second.text
    assert not second.function_calls


@pytest.mark.parametrize("model", [OPENAI_MODEL, CLAUDE_MODEL])
def test_generate_content_reaches_other_providers(
    rest: RestServer, org: Org, sim: SimulatorThread, model: str
) -> None:
    api = client(rest, org.api_key)
    within = "default" if model == CLAUDE_MODEL else WINDOW
    response = api.models.generate_content(
        model=model,
        contents="hi",
        config=config(within, system_instruction="be brief", max_output_tokens=64),
    )
    assert response.text
    assert response.usage_metadata
    assert response.usage_metadata.candidates_token_count
    (seen,) = sim.records
    assert seen.path == ("/v1/messages" if model == CLAUDE_MODEL else "/v1/chat/completions")
    streamed = list(
        api.models.generate_content_stream(model=model, contents="hi", config=config(within))
    )
    assert "".join(chunk.text or "" for chunk in streamed).strip()
    assert streamed[-1].candidates
    assert streamed[-1].candidates[0].finish_reason == "STOP"


def test_errors_arrive_in_google_s_envelope(rest: RestServer, org: Org) -> None:
    api = client(rest, org.api_key)
    with pytest.raises(genai.errors.ClientError) as caught:
        api.models.generate_content(model=GEMINI_MODEL, contents="hi", config=config("auto"))
    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    details = caught.value.details["error"]["details"]
    assert details[0]["reason"] == "auto_unsupported_for_gemini"


def test_a_service_tier_in_the_config_is_refused(rest: RestServer, org: Org) -> None:
    api = client(rest, org.api_key)
    with pytest.raises(genai.errors.ClientError) as caught:
        api.models.generate_content(
            model=GEMINI_MODEL, contents="hi", config=config(service_tier="flex")
        )
    assert caught.value.code == 400
    assert caught.value.details["error"]["details"][0]["reason"] == "service_tier_not_allowed"


def test_a_wrong_key_is_refused_in_google_s_envelope(rest: RestServer) -> None:
    api = client(rest, "flex_live_" + "0" * 30)
    with pytest.raises(genai.errors.ClientError) as caught:
        api.models.generate_content(model=GEMINI_MODEL, contents="hi", config=config())
    assert caught.value.code == 401
    assert caught.value.details["error"]["details"][0]["reason"] == "invalid_api_key"


def test_count_tokens_on_a_gemini_model_is_gemini_s_own_count(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    api = client(rest, org.api_key)
    counted = api.models.count_tokens(model=GEMINI_MODEL, contents="how many tokens is this?")
    assert counted.total_tokens
    # The body went to Gemini as it came: Gemini's own answer to it is the same count.
    body = {"contents": [{"parts": [{"text": "how many tokens is this?"}], "role": "user"}]}
    direct = httpx.post(
        f"{sim.url}/v1beta/models/{GEMINI_MODEL}:countTokens",
        json=body,
        headers={"x-goog-api-key": "AIza" + "b" * 35},
    )
    assert direct.json()["totalTokens"] == counted.total_tokens


def test_count_tokens_on_a_claude_model_is_anthropic_s_count(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    api = client(rest, org.api_key)
    counted = api.models.count_tokens(model=CLAUDE_MODEL, contents="how many tokens is this?")
    assert counted.total_tokens
    # Counted by Anthropic's count_tokens, on the request translated to Messages.
    native = anthropic.Anthropic(base_url=rest.url, api_key=org.api_key, max_retries=0)
    content = [{"type": "text", "text": "how many tokens is this?"}]
    same = native.messages.count_tokens(
        model=CLAUDE_MODEL, messages=[{"role": "user", "content": content}]
    )
    assert same.input_tokens == counted.total_tokens


def test_count_tokens_on_an_openai_model_is_a_clear_400(rest: RestServer, org: Org) -> None:
    api = client(rest, org.api_key)
    with pytest.raises(genai.errors.ClientError) as caught:
        api.models.count_tokens(model=OPENAI_MODEL, contents="hi")
    assert caught.value.code == 400
    assert caught.value.details["error"]["details"][0]["reason"] == "unsupported_feature"
    assert "OpenAI has no token-counting endpoint" in (caught.value.message or "")


@pytest.mark.parametrize("model", [OPENAI_MODEL, GEMINI_MODEL])
def test_anthropic_count_tokens_counts_claude_models_only(
    rest: RestServer, org: Org, model: str
) -> None:
    native = anthropic.Anthropic(base_url=rest.url, api_key=org.api_key, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as caught:
        native.messages.count_tokens(model=model, messages=[{"role": "user", "content": "hi"}])
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error"
    assert "count_tokens counts Claude models" in caught.value.body["error"]["message"]
