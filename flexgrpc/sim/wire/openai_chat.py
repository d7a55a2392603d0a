"""OpenAI Chat Completions: ``POST /v1/chat/completions`` (``Authorization: Bearer``).

Stream: data-only ``chat.completion.chunk`` frames (no ``event:`` line)::

    {"choices":[{"delta":{"role":"assistant","content":"","refusal":null}, ...}]}   <- the start
    {"choices":[{"delta":{"content":"..."}, ...}]} ...
    {"choices":[{"delta":{},"finish_reason":"stop"|"length", ...}]}
    {"choices":[],"usage":{...}}          (only with stream_options.include_usage = true)
    data: [DONE]

A tool-call answer (``finish_reason: tool_calls``, ``message.content`` null,
``message.tool_calls``) streams each call as a header chunk and argument fragments::

    {"delta":{"role":"assistant","content":null,"refusal":null}}                   <- the start
    {"delta":{"tool_calls":[{"index":i,"id","type":"function",
                             "function":{"name","arguments":""}}]}}
    {"delta":{"tool_calls":[{"index":i,"function":{"arguments":"..."}}]}} ...
    {"delta":{},"finish_reason":"tool_calls"}

Tools are ``tools[{type: function, function: {name, parameters}}]``; ``tool_choice`` is
``auto``, ``required``, ``none``, ``{type: function, function: {name}}`` or ``allowed_tools``;
``parallel_tool_calls: false`` allows one call. A last message with role ``tool`` is answered
with text. ``response_format`` ``json_schema`` (``json_schema.schema``) or ``json_object``
makes ``content`` JSON.

Every chunk carries ``service_tier`` (the tier served: ``default``, ``flex``, ``priority``) and,
with ``include_usage``, ``"usage": null`` until the usage chunk. There are no acknowledgement
events: nothing is sent before the start. The non-streamed ``chat.completion`` is what the
chunks accumulate to (``message.refusal`` null, ``message.annotations`` empty).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flexgrpc.sim.asks import Ask, Tool, named, schema_object
from flexgrpc.sim.generation import Generation
from flexgrpc.sim.wire.base import Frame, RequestError, WireFormat, require_model, sse
from flexgrpc.sim.wire.errors import OpenAIErrors
from flexgrpc.sim.wire.openai_responses import (
    OPENAI_SERVED,
    OPENAI_TIERS,
    bearer_key_present,
    openai_choice,
    openai_text_schema,
    openai_usage_counts,
)


def _function_name(entry: Mapping[str, Any]) -> str | None:
    function = entry.get("function")
    return named(function.get("name")) if isinstance(function, Mapping) else None


def include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


class OpenAIChat(WireFormat):
    surface = "chat_completions"
    provider = "openai"
    path = "/v1/chat/completions"
    errors = OpenAIErrors()
    tier_names = OPENAI_TIERS
    served_names = OPENAI_SERVED
    request_id_header = "x-request-id"

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return bearer_key_present(headers)

    def check_body(self, body: Mapping[str, Any]) -> None:
        require_model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(
                "Missing required parameter: 'messages' (a non-empty array).", "messages"
            )

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        for name in ("max_completion_tokens", "max_tokens"):
            value = body.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    def ask(self, body: Mapping[str, Any]) -> Ask:
        tools = body.get("tools")
        offered = []
        for tool in tools if isinstance(tools, list) else []:
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if isinstance(function, Mapping) and (name := named(function.get("name"))):
                offered.append(Tool(name, schema_object(function.get("parameters"))))
        choice, allowed = openai_choice(body.get("tool_choice"), _function_name)
        messages = body.get("messages")
        last = messages[-1] if isinstance(messages, list) and messages else None
        return Ask(
            tools=tuple(offered),
            choice=choice,
            allowed=allowed,
            parallel=body.get("parallel_tool_calls") is not False,
            after_tool_result=isinstance(last, Mapping) and last.get("role") == "tool",
            text_schema=openai_text_schema(body.get("response_format")),
        )

    def _id(self, generation: Generation) -> str:
        return f"chatcmpl-{generation.b62_id(0, 29)}"

    def _fingerprint(self, generation: Generation) -> str:
        return f"fp_{generation.hex_id(1, 10)}"

    def _finish_reason(self, generation: Generation) -> str:
        if generation.tool_calls:
            return "tool_calls"
        return "length" if generation.truncated else "stop"

    @staticmethod
    def _call_id(generation: Generation, index: int) -> str:
        return f"call_{generation.tool_calls[index].b62_id(24)}"

    def _message(self, generation: Generation) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if generation.tool_calls else generation.text,
            "refusal": None,
            "annotations": [],
        }
        if generation.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self._call_id(generation, index),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
                for index, call in enumerate(generation.tool_calls)
            ]
        return message

    def _usage(self, generation: Generation) -> dict[str, Any]:
        prompt, cached, completion, reasoning = openai_usage_counts(generation)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def final_body(self, generation: Generation) -> dict[str, Any]:
        return {
            "id": self._id(generation),
            "object": "chat.completion",
            "created": int(generation.created),
            "model": generation.model,
            "choices": [
                {
                    "index": 0,
                    "message": self._message(generation),
                    "logprobs": None,
                    "finish_reason": self._finish_reason(generation),
                }
            ],
            "usage": self._usage(generation),
            "service_tier": self.served_name(generation),
            "system_fingerprint": self._fingerprint(generation),
        }

    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        with_usage = include_usage(generation.body)
        head = {
            "id": self._id(generation),
            "object": "chat.completion.chunk",
            "created": int(generation.created),
            "model": generation.model,
            "service_tier": self.served_name(generation),
            "system_fingerprint": self._fingerprint(generation),
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            payload: dict[str, Any] = {**head, "choices": [choice]}
            if with_usage:
                payload["usage"] = None
            return sse(payload)

        content = None if generation.tool_calls else ""
        yield Frame(chunk({"role": "assistant", "content": content, "refusal": None}))
        for index, call in enumerate(generation.tool_calls):
            header = {
                "index": index,
                "id": self._call_id(generation, index),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield Frame(
                chunk({"tool_calls": [header]}), pace=0 if index else generation.reasoning_tokens
            )
            for position, piece in enumerate(call.fragments):
                fragment = {"index": index, "function": {"arguments": piece}}
                yield Frame(
                    chunk({"tool_calls": [fragment]}),
                    pace=1 if position or index else 0,
                    token=True,
                )
        for position, token in enumerate(generation.tokens):
            # Reasoning happens out of sight, between the role chunk and the first content.
            pace = 1 if position else generation.reasoning_tokens
            yield Frame(chunk({"content": token}), pace=pace, token=True)
        yield Frame(chunk({}, self._finish_reason(generation)))
        if with_usage:
            yield Frame(sse({**head, "choices": [], "usage": self._usage(generation)}))
        yield Frame(sse("[DONE]"))
