"""Anthropic Messages: ``POST /v1/messages`` (``anthropic-version`` required; the key in
``x-api-key`` or, as the anthropic SDK 2.x sends it, ``Authorization: Bearer``).

Stream: ``event: <type>`` + ``data: {"type": <type>, ...}``::

    message_start                                   (acknowledgement, at once)
    content_block_start (text)                      <- the start
    ping
    content_block_delta (text_delta) ...
    content_block_stop
    message_delta   (stop_reason end_turn|max_tokens, usage.output_tokens)
    message_stop

A tool-call answer has ``tool_use`` blocks (``stop_reason: tool_use``) in place of the text;
each streams as ``content_block_start`` with ``{type: tool_use, id, name, input: {}}``, then
``content_block_delta`` ``input_json_delta`` fragments of ``partial_json`` (the first one
empty), then ``content_block_stop``. Tools are ``tools[{name, input_schema}]`` (server tools,
which have no ``input_schema``, are never called); ``tool_choice.type`` is ``auto``, ``any``,
``tool`` (with ``name``) or ``none``; ``disable_parallel_tool_use: true`` allows one call. A
last user turn holding a ``tool_result`` block is answered with text. Structured output is
``output_config.format: {type: json_schema, schema}`` (the GA field; the beta's top-level
``output_format`` is read too): the text block is JSON valid against the schema.

``POST /v1/messages/count_tokens`` (``AnthropicTokenCount``) answers ``{"input_tokens": N}``
for a body like a Messages request without ``max_tokens``: N is the sum of ``input_tokens``,
``cache_creation_input_tokens`` and ``cache_read_input_tokens`` that the Messages request with
that prompt reports.

Request ``service_tier`` is ``auto`` (the default) or ``standard_only``; the tier served is
echoed as ``usage.service_tier`` (``standard`` or ``priority``). Usage reports cache reads and
writes outside ``input_tokens``. The non-streamed message is ``message_start.message`` with the
blocks' text, ``message_delta.delta`` and ``message_delta.usage`` applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flexgrpc.sim.asks import Ask, Tool, ToolChoice, named, schema_object
from flexgrpc.sim.generation import Generation, ToolCall
from flexgrpc.sim.wire.base import (
    Frame,
    RequestError,
    TokenCounter,
    WireFormat,
    require_model,
    sse,
)
from flexgrpc.sim.wire.errors import AnthropicErrors
from flexgrpc.sim.wire.openai_responses import bearer_key_present


class AnthropicMessages(WireFormat):
    surface = "messages"
    provider = "anthropic"
    path = "/v1/messages"
    errors = AnthropicErrors()
    tier_names: Mapping[str | None, str] = {
        None: "auto",
        "auto": "auto",
        "standard_only": "standard",
    }
    # Anthropic has no flex tier: a misconfigured "serve flex instead" is echoed as standard.
    served_names: Mapping[str, str] = {
        "standard": "standard",
        "priority": "priority",
        "flex": "standard",
    }
    request_id_header = "request-id"

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return bool(headers.get("x-api-key", "").strip()) or bearer_key_present(headers)

    def check_headers(self, headers: Mapping[str, str]) -> None:
        if not headers.get("anthropic-version", "").strip():
            raise RequestError("anthropic-version: header is required")

    def check_body(self, body: Mapping[str, Any]) -> None:
        require_model(body)
        if self.max_tokens(body) is None:
            raise RequestError("Field required", "max_tokens")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("Field required (a non-empty list)", "messages")

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        value = body.get("max_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def prompt(self, body: Mapping[str, Any]) -> dict[str, Any]:
        # max_tokens limits the answer, it is not prompt: leaving it out lets count_tokens
        # (which takes no max_tokens) count what a real request counts.
        prompt = super().prompt(body)
        prompt.pop("max_tokens", None)
        return prompt

    def ask(self, body: Mapping[str, Any]) -> Ask:
        tools = body.get("tools")
        offered = tuple(
            Tool(name, schema_object(tool.get("input_schema")))
            for tool in (tools if isinstance(tools, list) else [])
            if isinstance(tool, Mapping)
            and "input_schema" in tool
            and (name := named(tool.get("name")))
        )
        choice_field = body.get("tool_choice")
        choice = choice_field if isinstance(choice_field, Mapping) else {}
        kind = choice.get("type", "auto")
        named_tool = named(choice.get("name"))
        modes = {"any": ToolChoice.REQUIRED, "tool": ToolChoice.REQUIRED, "none": ToolChoice.NONE}
        messages = body.get("messages")
        last = messages[-1] if isinstance(messages, list) and messages else None
        content = last.get("content") if isinstance(last, Mapping) else None
        after_result = isinstance(content, list) and any(
            isinstance(block, Mapping) and block.get("type") == "tool_result" for block in content
        )
        config = body.get("output_config")
        fmt = config.get("format") if isinstance(config, Mapping) else body.get("output_format")
        schema = (
            schema_object(fmt.get("schema"))
            if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema"
            else None
        )
        return Ask(
            tools=offered,
            choice=modes.get(kind, ToolChoice.AUTO),
            allowed=(named_tool,) if kind == "tool" and named_tool else (),
            parallel=choice.get("disable_parallel_tool_use") is not True,
            after_tool_result=after_result,
            text_schema=schema,
        )

    def request_id(self, generation: Generation) -> str:
        return f"req_01{generation.b62_id(3, 22)}"

    def _usage(self, generation: Generation, output_tokens: int) -> dict[str, Any]:
        cache_read = generation.cached_tokens
        cache_write = generation.cache_write_tokens
        return {
            "input_tokens": generation.input_tokens - cache_read - cache_write,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "output_tokens": output_tokens,
            "service_tier": self.served_name(generation),
        }

    def _message(
        self, generation: Generation, *, content: list[dict[str, Any]], final: bool
    ) -> dict[str, Any]:
        return {
            "id": f"msg_01{generation.b62_id(0, 22)}",
            "type": "message",
            "role": "assistant",
            "model": generation.model,
            "content": content,
            "stop_reason": self._stop_reason(generation) if final else None,
            "stop_sequence": None,
            "usage": self._usage(generation, generation.output_tokens if final else 1),
        }

    def _stop_reason(self, generation: Generation) -> str:
        if generation.tool_calls:
            return "tool_use"
        return "max_tokens" if generation.truncated else "end_turn"

    @staticmethod
    def _tool_use(call: ToolCall, *, done: bool) -> dict[str, Any]:
        return {
            "type": "tool_use",
            "id": f"toolu_01{call.b62_id(22)}",
            "name": call.name,
            "input": call.arguments if done else {},
        }

    def final_body(self, generation: Generation) -> dict[str, Any]:
        if generation.tool_calls:
            content = [self._tool_use(call, done=True) for call in generation.tool_calls]
        else:
            content = [{"type": "text", "text": generation.text}]
        return self._message(generation, content=content, final=True)

    def _tool_use_frames(
        self, generation: Generation, event: Callable[..., bytes]
    ) -> Iterator[Frame]:
        for index, call in enumerate(generation.tool_calls):
            block = self._tool_use(call, done=False)
            yield Frame(event("content_block_start", index=index, content_block=block))
            if index == 0:
                yield Frame(event("ping"))
            empty = {"type": "input_json_delta", "partial_json": ""}
            yield Frame(event("content_block_delta", index=index, delta=empty))
            for position, piece in enumerate(call.fragments):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield Frame(
                    event("content_block_delta", index=index, delta=delta),
                    pace=1 if position or index else 0,
                    token=True,
                )
            yield Frame(event("content_block_stop", index=index))

    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        def event(type_: str, **fields: Any) -> bytes:
            return sse({"type": type_, **fields}, type_)

        start = self._message(generation, content=[], final=False)
        yield Frame(event("message_start", message=start), output=False)
        if generation.tool_calls:
            yield from self._tool_use_frames(generation, event)
        else:
            yield from self._text_frames(generation, event)
        yield Frame(
            event(
                "message_delta",
                delta={"stop_reason": self._stop_reason(generation), "stop_sequence": None},
                usage={"output_tokens": generation.output_tokens},
            )
        )
        yield Frame(event("message_stop"))

    @staticmethod
    def _text_frames(generation: Generation, event: Callable[..., bytes]) -> Iterator[Frame]:
        yield Frame(
            event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        )
        yield Frame(event("ping"))
        for position, token in enumerate(generation.tokens):
            yield Frame(
                event("content_block_delta", index=0, delta={"type": "text_delta", "text": token}),
                pace=1 if position else 0,
                token=True,
            )
        yield Frame(event("content_block_stop", index=0))


class AnthropicTokenCount(TokenCounter):
    """``POST /v1/messages/count_tokens``."""

    path = "/v1/messages/count_tokens"
    errors = AnthropicErrors()

    def __init__(self) -> None:
        self._messages = AnthropicMessages()

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return self._messages.api_key_present(headers, query)

    def check_headers(self, headers: Mapping[str, str]) -> None:
        self._messages.check_headers(headers)

    def prompt_request(self, body: Mapping[str, Any]) -> tuple[WireFormat, Mapping[str, Any]]:
        require_model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("Field required (a non-empty list)", "messages")
        return self._messages, body

    def answer(self, tokens: int) -> dict[str, Any]:
        return {"input_tokens": tokens}
