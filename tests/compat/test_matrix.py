"""Every caller surface to every provider, through the official SDKs (issue #14's matrix).

Each surface is driven by the SDK its users have (``openai`` for Responses and Chat,
``anthropic`` for Messages, ``google-genai`` for Interactions and for generateContent); each
reaches an OpenAI, a Gemini and a Claude model, streamed and not, with text, a required tool
call, a tool round trip, structured output against a JSON Schema, and an image. OpenAI and
Gemini models run the flex race; Claude, which has no flex tier, the default tier. What the test
asserts is what the SDK parses: the answer's text, the tool call's name and arguments, the
parsed object, the usage."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import jsonschema
import openai
import pytest
from google import genai

from tests.compat.conftest import CLAUDE_MODEL, GEMINI_MODEL, OPENAI_MODEL, WINDOW, Org, RestServer

MODELS = {"openai": OPENAI_MODEL, "gemini": GEMINI_MODEL, "anthropic": CLAUDE_MODEL}
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    "rkJggg=="
)
WEATHER = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
    "additionalProperties": False,
}
CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}


def window(provider: str) -> str:
    return "default" if provider == "anthropic" else WINDOW


@dataclass(frozen=True)
class Answer:
    """What a caller's code reads off an answer."""

    text: str
    calls: list[tuple[str, dict[str, Any]]]
    output_tokens: int


# ---------------------------------------------------------------------------------------------
# One driver per surface: the SDK call its users make
# ---------------------------------------------------------------------------------------------


class Responses:
    def __init__(self, rest: RestServer, org: Org) -> None:
        self.api = openai.OpenAI(base_url=f"{rest.url}/v1", api_key=org.api_key, max_retries=0)

    def ask(self, model: str, within: str, *, stream: bool, prompt: list[Any] | str = "hi",
            **extra: Any) -> Answer:  # fmt: skip
        kwargs: dict[str, Any] = {"model": model, "input": prompt, **extra}
        if stream:
            with self.api.responses.stream(**kwargs, extra_body={"start_within": within}) as s:
                for _ in s:
                    pass
                response = s.get_final_response()
        else:
            response = self.api.responses.create(**kwargs, extra_body={"start_within": within})
        calls = [
            (item.name, json.loads(item.arguments))
            for item in response.output
            if item.type == "function_call"
        ]
        assert response.usage is not None
        return Answer(response.output_text, calls, response.usage.output_tokens)

    def text(self, model: str, within: str, stream: bool) -> Answer:
        return self.ask(model, within, stream=stream)

    def tool_call(self, model: str, within: str, stream: bool) -> Answer:
        tool = {"type": "function", "name": "get_weather", "parameters": WEATHER, "strict": True}
        return self.ask(model, within, stream=stream, tools=[tool], tool_choice="required")

    def round_trip(self, model: str, within: str) -> Answer:
        tool = {"type": "function", "name": "get_weather", "parameters": WEATHER}
        first = self.api.responses.create(
            model=model, input="weather in Paris?", tools=[tool], tool_choice="required",
            extra_body={"start_within": within},
        )  # fmt: skip
        call = next(item for item in first.output if item.type == "function_call")
        history: list[Any] = [
            {"role": "user", "content": "weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name,
             "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"c": 18}'},
        ]  # fmt: skip
        return self.ask(model, within, stream=False, prompt=history, tools=[tool])

    def structured(self, model: str, within: str, stream: bool) -> dict[str, Any]:
        fmt = {"type": "json_schema", "name": "city", "schema": CITY, "strict": True}
        answer = self.ask(model, within, stream=stream, text={"format": fmt})
        return dict(json.loads(answer.text))

    def image(self, model: str, within: str, stream: bool) -> Answer:
        prompt = [{"role": "user", "content": [
            {"type": "input_text", "text": "what is this?"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
        ]}]  # fmt: skip
        return self.ask(model, within, stream=stream, prompt=prompt)


class Chat:
    def __init__(self, rest: RestServer, org: Org) -> None:
        self.api = openai.OpenAI(base_url=f"{rest.url}/v1", api_key=org.api_key, max_retries=0)

    def ask(self, model: str, within: str, *, stream: bool, messages: list[Any] | None = None,
            **extra: Any) -> Answer:  # fmt: skip
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages or [{"role": "user", "content": "hi"}],
            "extra_body": {"start_within": within},
            **extra,
        }
        if not stream:
            completion = self.api.chat.completions.create(**kwargs)
            message = completion.choices[0].message
            calls = [(c.function.name, json.loads(c.function.arguments))
                     for c in message.tool_calls or []]  # fmt: skip
            assert completion.usage is not None
            return Answer(message.content or "", calls, completion.usage.completion_tokens)
        with self.api.chat.completions.stream(
            **kwargs, stream_options={"include_usage": True}
        ) as s:
            for _ in s:
                pass
            completion = s.get_final_completion()
        message = completion.choices[0].message
        calls = [(c.function.name, json.loads(c.function.arguments))
                 for c in message.tool_calls or []]  # fmt: skip
        assert completion.usage is not None
        return Answer(message.content or "", calls, completion.usage.completion_tokens)

    def text(self, model: str, within: str, stream: bool) -> Answer:
        return self.ask(model, within, stream=stream)

    def tool_call(self, model: str, within: str, stream: bool) -> Answer:
        function = {"name": "get_weather", "parameters": WEATHER, "strict": True}
        tool = {"type": "function", "function": function}
        return self.ask(model, within, stream=stream, tools=[tool], tool_choice="required")

    def round_trip(self, model: str, within: str) -> Answer:
        tool = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
        first = self.api.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=[tool], tool_choice="required", extra_body={"start_within": within},
        )  # fmt: skip
        message = first.choices[0].message
        assert message.tool_calls
        call = message.tool_calls[0]
        history = [
            {"role": "user", "content": "weather in Paris?"},
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"c": 18}'},
        ]
        return self.ask(model, within, stream=False, messages=history, tools=[tool])

    def structured(self, model: str, within: str, stream: bool) -> dict[str, Any]:
        fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY,
                                                      "strict": True}}  # fmt: skip
        return dict(json.loads(self.ask(model, within, stream=stream, response_format=fmt).text))

    def image(self, model: str, within: str, stream: bool) -> Answer:
        image = {"url": f"data:image/png;base64,{PNG}"}
        content = [{"type": "text", "text": "what is this?"},
                   {"type": "image_url", "image_url": image}]  # fmt: skip
        return self.ask(model, within, stream=stream,
                        messages=[{"role": "user", "content": content}])  # fmt: skip


class Messages:
    def __init__(self, rest: RestServer, org: Org) -> None:
        self.api = anthropic.Anthropic(base_url=rest.url, api_key=org.api_key, max_retries=0)

    def ask(self, model: str, within: str, *, stream: bool, messages: list[Any] | None = None,
            extra: dict[str, Any] | None = None, **kwargs: Any) -> Answer:  # fmt: skip
        call: dict[str, Any] = {
            "model": model,
            "max_tokens": 256,
            "messages": messages or [{"role": "user", "content": "hi"}],
            "extra_body": {"start_within": within, **(extra or {})},
            **kwargs,
        }
        if stream:
            with self.api.messages.stream(**call) as s:
                for _ in s:
                    pass
                message = s.get_final_message()
        else:
            message = self.api.messages.create(**call)
        text = "".join(b.text for b in message.content if b.type == "text")
        calls = [(b.name, dict(b.input)) for b in message.content if b.type == "tool_use"]
        return Answer(text, calls, message.usage.output_tokens)

    def text(self, model: str, within: str, stream: bool) -> Answer:
        return self.ask(model, within, stream=stream)

    def tool_call(self, model: str, within: str, stream: bool) -> Answer:
        tool = {"name": "get_weather", "input_schema": WEATHER}
        return self.ask(model, within, stream=stream, tools=[tool], tool_choice={"type": "any"})

    def round_trip(self, model: str, within: str) -> Answer:
        tool = {"name": "get_weather", "input_schema": WEATHER}
        question = {"role": "user", "content": "weather in Paris?"}
        first = self.api.messages.create(
            model=model, max_tokens=256, messages=[question], tools=[tool],
            tool_choice={"type": "any"}, extra_body={"start_within": within},
        )  # fmt: skip
        use = next(b for b in first.content if b.type == "tool_use")
        history = [
            question,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True)
                                              for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                          "content": '{"c": 18}'}]},
        ]  # fmt: skip
        return self.ask(model, within, stream=False, messages=history, tools=[tool])

    def structured(self, model: str, within: str, stream: bool) -> dict[str, Any]:
        config = {"format": {"type": "json_schema", "schema": CITY}}
        answer = self.ask(model, within, stream=stream, extra={"output_config": config})
        return dict(json.loads(answer.text))

    def image(self, model: str, within: str, stream: bool) -> Answer:
        content = [{"type": "text", "text": "what is this?"},
                   {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                "data": PNG}}]  # fmt: skip
        return self.ask(model, within, stream=stream,
                        messages=[{"role": "user", "content": content}])  # fmt: skip


class Interactions:
    def __init__(self, rest: RestServer, org: Org) -> None:
        self.api = genai.Client(
            api_key=org.api_key,
            http_options={"base_url": rest.url, "api_version": "v1",
                          "retry_options": {"attempts": 1}},
        )  # fmt: skip

    def ask(self, model: str, within: str, *, stream: bool, prompt: Any = "hi",
            **kwargs: Any) -> Answer:  # fmt: skip
        call = {"model": model, "input": prompt, "extra_body": {"start_within": within}, **kwargs}
        if not stream:
            return self._read(self.api.interactions.create(**call).model_dump())
        text: list[str] = []
        arguments: dict[int, list[str]] = {}
        names: dict[int, str] = {}
        completed: dict[str, Any] = {}
        for event in self.api.interactions.create(**call, stream=True):
            data = event.model_dump()
            if data.get("event_type") == "step.start" and data["step"]["type"] == "function_call":
                names[data["index"]] = data["step"]["name"]
            elif data.get("event_type") == "step.delta":
                delta = data["delta"]
                if delta.get("type") == "text":
                    text.append(delta["text"])
                elif delta.get("type") == "arguments_delta":
                    arguments.setdefault(data["index"], []).append(delta["arguments"])
            elif data.get("event_type") == "interaction.completed":
                completed = data["interaction"]
        calls = [(names[i], json.loads("".join(arguments.get(i, [])) or "{}")) for i in names]
        return Answer("".join(text), calls, completed["usage"]["total_output_tokens"])

    @staticmethod
    def _read(interaction: dict[str, Any]) -> Answer:
        text, calls = [], []
        for step in interaction.get("steps") or []:
            if step["type"] == "model_output":
                text += [part["text"] for part in step.get("content") or [] if part.get("text")]
            elif step["type"] == "function_call":
                calls.append((step["name"], dict(step["arguments"])))
        usage = interaction["usage"]
        return Answer("".join(text), calls, usage["total_output_tokens"])

    def text(self, model: str, within: str, stream: bool) -> Answer:
        return self.ask(model, within, stream=stream)

    def tool_call(self, model: str, within: str, stream: bool) -> Answer:
        tool = {"type": "function", "name": "get_weather", "parameters": WEATHER}
        return self.ask(model, within, stream=stream, tools=[tool],
                        generation_config={"tool_choice": "any"})  # fmt: skip

    def round_trip(self, model: str, within: str) -> Answer:
        tool = {"type": "function", "name": "get_weather", "parameters": WEATHER}
        question = {"type": "user_input", "content": [{"type": "text", "text": "weather?"}]}
        first = self.api.interactions.create(
            model=model, input=[question], tools=[tool],
            generation_config={"tool_choice": "any"}, extra_body={"start_within": within},
        ).model_dump()  # fmt: skip
        steps = [s for s in first["steps"] if s["type"] in ("thought", "function_call")]
        call = next(s for s in steps if s["type"] == "function_call")
        result = {"type": "function_result", "call_id": call["id"], "name": call["name"],
                  "result": '{"c": 18}'}  # fmt: skip
        history = [
            question,
            *[{k: v for k, v in s.items() if v is not None} for s in steps],
            result,
        ]
        return self.ask(model, within, stream=False, prompt=history, tools=[tool])

    def structured(self, model: str, within: str, stream: bool) -> dict[str, Any]:
        fmt = {"type": "text", "mime_type": "application/json", "schema": CITY}
        return dict(json.loads(self.ask(model, within, stream=stream, response_format=fmt).text))

    def image(self, model: str, within: str, stream: bool) -> Answer:
        prompt = [{"type": "user_input", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image", "data": PNG, "mime_type": "image/png"},
        ]}]  # fmt: skip
        return self.ask(model, within, stream=stream, prompt=prompt)


class GenerateContent:
    def __init__(self, rest: RestServer, org: Org) -> None:
        self.api = genai.Client(
            api_key=org.api_key,
            http_options={"base_url": rest.url, "retry_options": {"attempts": 1}},
        )

    @staticmethod
    def config(within: str, **fields: Any) -> genai.types.GenerateContentConfig:
        return genai.types.GenerateContentConfig(
            http_options=genai.types.HttpOptions(extra_body={"start_within": within}),
            automatic_function_calling=genai.types.AutomaticFunctionCallingConfig(disable=True),
            **fields,
        )

    def ask(self, model: str, within: str, *, stream: bool, contents: Any = "hi",
            **fields: Any) -> Answer:  # fmt: skip
        config = self.config(within, **fields)
        if not stream:
            response = self.api.models.generate_content(
                model=model, contents=contents, config=config
            )
            chunks = [response]
        else:
            chunks = list(
                self.api.models.generate_content_stream(
                    model=model, contents=contents, config=config
                )
            )
        text = "".join(chunk.text or "" for chunk in chunks)
        calls = [(c.name or "", dict(c.args or {})) for chunk in chunks
                 for c in chunk.function_calls or []]  # fmt: skip
        usage = chunks[-1].usage_metadata
        assert usage is not None
        return Answer(text, calls, usage.candidates_token_count or 0)

    @staticmethod
    def tools() -> list[genai.types.Tool]:
        declaration = genai.types.FunctionDeclaration(
            name="get_weather", parameters_json_schema=WEATHER
        )
        return [genai.types.Tool(function_declarations=[declaration])]

    @staticmethod
    def any_tool() -> genai.types.ToolConfig:
        calling = genai.types.FunctionCallingConfig(mode=genai.types.FunctionCallingConfigMode.ANY)
        return genai.types.ToolConfig(function_calling_config=calling)

    def text(self, model: str, within: str, stream: bool) -> Answer:
        return self.ask(model, within, stream=stream)

    def tool_call(self, model: str, within: str, stream: bool) -> Answer:
        return self.ask(model, within, stream=stream, tools=self.tools(),
                        tool_config=self.any_tool())  # fmt: skip

    def round_trip(self, model: str, within: str) -> Answer:
        question = genai.types.Content(role="user", parts=[genai.types.Part(text="weather?")])
        first = self.api.models.generate_content(
            model=model, contents=[question],
            config=self.config(within, tools=self.tools(), tool_config=self.any_tool()),
        )  # fmt: skip
        assert first.candidates
        assert first.candidates[0].content
        assert first.function_calls
        call = first.function_calls[0]
        result = genai.types.Part(function_response=genai.types.FunctionResponse(
            id=call.id, name=call.name, response={"c": 18}))  # fmt: skip
        history = [question, first.candidates[0].content,
                   genai.types.Content(role="user", parts=[result])]  # fmt: skip
        return self.ask(model, within, stream=False, contents=history, tools=self.tools())

    def structured(self, model: str, within: str, stream: bool) -> dict[str, Any]:
        answer = self.ask(model, within, stream=stream, response_mime_type="application/json",
                          response_json_schema=CITY)  # fmt: skip
        return dict(json.loads(answer.text))

    def image(self, model: str, within: str, stream: bool) -> Answer:
        image = genai.types.Part.from_bytes(data=base64.b64decode(PNG), mime_type="image/png")
        content = genai.types.Content(role="user", parts=[genai.types.Part(text="what is this?"),
                                                          image])  # fmt: skip
        return self.ask(model, within, stream=stream, contents=[content])


DRIVERS: dict[str, Callable[[RestServer, Org], Any]] = {
    "responses": Responses,
    "chat": Chat,
    "messages": Messages,
    "interactions": Interactions,
    "generate_content": GenerateContent,
}
PAIRS = [(surface, provider) for surface in DRIVERS for provider in MODELS]


@pytest.fixture(params=PAIRS, ids=[f"{s}-{p}" for s, p in PAIRS])
def pair(request: pytest.FixtureRequest, rest: RestServer, org: Org) -> tuple[Any, str, str]:
    surface, provider = request.param
    return DRIVERS[surface](rest, org), MODELS[provider], window(provider)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_text(pair: tuple[Any, str, str], stream: bool) -> None:
    driver, model, within = pair
    answer = driver.text(model, within, stream)
    assert answer.text.strip()
    assert answer.output_tokens > 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_required_tool_call_has_arguments_valid_against_its_schema(
    pair: tuple[Any, str, str], stream: bool
) -> None:
    driver, model, within = pair
    answer = driver.tool_call(model, within, stream)
    assert answer.calls, answer
    name, arguments = answer.calls[0]
    assert name == "get_weather"
    jsonschema.validate(arguments, WEATHER)


def test_a_tool_round_trip_ends_in_text(pair: tuple[Any, str, str]) -> None:
    driver, model, within = pair
    answer = driver.round_trip(model, within)
    assert answer.text.strip()
    assert not answer.calls


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_structured_output_is_valid_against_the_schema(
    pair: tuple[Any, str, str], stream: bool
) -> None:
    driver, model, within = pair
    jsonschema.validate(driver.structured(model, within, stream), CITY)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_image_reaches_the_model(pair: tuple[Any, str, str], stream: bool) -> None:
    driver, model, within = pair
    assert driver.image(model, within, stream).text.strip()


def test_what_the_target_cannot_express_is_a_400_in_the_callers_envelope(
    rest: RestServer, org: Org
) -> None:
    api = anthropic.Anthropic(base_url=rest.url, api_key=org.api_key, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as caught:
        api.messages.create(
            model=OPENAI_MODEL,
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"start_within": WINDOW, "top_k": 5},
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    message = error["error"]["message"]
    assert "`top_k` has no equivalent for OpenAI" in message
    assert "Anthropic Messages surface" in message
