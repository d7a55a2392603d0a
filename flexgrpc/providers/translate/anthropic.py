"""Chat Completions ⇄ Anthropic Messages (``POST /v1/messages``).

Request: system/developer messages are hoisted into the top-level ``system`` (joined with a
newline, as Anthropic's own OpenAI-compatibility layer does); ``tool`` messages become
``tool_result`` blocks in a user turn; consecutive turns of one role are merged, because the
Messages API alternates user and assistant. ``max_tokens`` is required by Anthropic and has no
server default: a request without one gets ``DEFAULT_MAX_TOKENS``. ``temperature`` above 1 is
capped at 1 (Anthropic's range is 0..1; its compatibility layer caps the same way).
``reasoning_effort`` becomes ``output_config.effort``; ``response_format`` json_schema becomes
``output_config.format``. Sampling fields are sent as given: under API version 2026-10-21
Anthropic rejects them, and that 400 is the honest answer.

Response: text blocks concatenate into ``content``; ``tool_use`` blocks become ``tool_calls``;
``thinking`` blocks have no Chat field and are not shown. ``prompt_tokens`` counts every input
token: ``input_tokens`` + ``cache_read_input_tokens`` + ``cache_creation_input_tokens`` (Anthropic
reports cache reads and writes outside ``input_tokens``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from flexgrpc.providers.sse import SseEvent
from flexgrpc.providers.translate._chat import (
    AssistantTurn,
    ChatRequest,
    ChatStreamBase,
    ChatUsage,
    FinishReason,
    FunctionTool,
    ImagePart,
    TextPart,
    ToolCall,
    ToolTurn,
    Turn,
    UserTurn,
    arguments_json,
    chat_service_tier,
    completion_object,
    parse_chat_request,
    unsupported,
)

#: ``max_tokens`` for a Chat request that sets neither max_tokens nor max_completion_tokens.
#: Anthropic requires the field and documents no default; 4096 fits every current Claude model.
DEFAULT_MAX_TOKENS = 4096

_PROVIDER = "Anthropic (claude-*)"

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Chat's reasoning_effort → output_config.effort (Anthropic has no "none"/"minimal" level).
_EFFORTS = {
    "none": "low",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}


class AnthropicTranslator:
    """The ``ChatTranslator`` for ``claude-*`` models."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def request(self, chat_body: dict[str, Any]) -> dict[str, Any]:
        chat = parse_chat_request(chat_body, provider=_PROVIDER)
        body: dict[str, Any] = {
            "model": chat.model,
            "max_tokens": chat.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if chat.system_text is not None:
            body["system"] = chat.system_text
        body["messages"] = _messages(chat.turns)
        if chat.temperature is not None:
            body["temperature"] = min(chat.temperature, 1.0)
        if chat.top_p is not None:
            body["top_p"] = chat.top_p
        if chat.stop:
            body["stop_sequences"] = list(chat.stop)
        _add_tools(body, chat)
        output_config = _output_config(chat)
        if output_config:
            body["output_config"] = output_config
        if chat.end_user is not None:
            body["metadata"] = {"user_id": chat.end_user}
        # `seed` is dropped: Anthropic has none, and OpenAI itself only tries to honour it.
        for key, value in chat.passthrough.items():
            body.setdefault(key, value)
        return body

    def response(self, native: dict[str, Any], *, model: str) -> dict[str, Any]:
        blocks = [block for block in native.get("content") or [] if isinstance(block, dict)]
        calls = [
            ToolCall(block["id"], block["name"], arguments_json(block.get("input")))
            for block in blocks
            if block.get("type") == "tool_use"
        ]
        raw_usage = native.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        return completion_object(
            id=native.get("id") or f"chatcmpl-{uuid.uuid4().hex}",
            created=int(self._clock()),
            model=model,
            text="".join(block["text"] for block in blocks if block.get("type") == "text"),
            tool_calls=calls,
            finish_reason=_finish_reason(native.get("stop_reason"), bool(calls)),
            usage=chat_usage(usage),
            service_tier=chat_service_tier(usage.get("service_tier")),
        )

    def stream(self, *, model: str, include_usage: bool) -> AnthropicChatStream:
        return AnthropicChatStream(
            model=model, include_usage=include_usage, created=int(self._clock())
        )


def chat_usage(usage: dict[str, Any]) -> ChatUsage:
    """Anthropic usage in Chat's decomposition (cache reads and writes join the prompt)."""

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) else 0

    details = usage.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, dict) else None
    cache_read = count("cache_read_input_tokens")
    cache_write = count("cache_creation_input_tokens")
    return ChatUsage(
        prompt_tokens=count("input_tokens") + cache_read + cache_write,
        completion_tokens=count("output_tokens"),
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=thinking if isinstance(thinking, int) else 0,
    )


def _finish_reason(stop_reason: Any, has_calls: bool) -> FinishReason:
    if isinstance(stop_reason, str) and stop_reason in _FINISH_REASONS:
        return _FINISH_REASONS[stop_reason]
    return "tool_calls" if has_calls else "stop"


def _messages(turns: tuple[Turn, ...]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in turns:
        role, blocks = _blocks(turn)
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)  # the Messages API alternates roles
        else:
            messages.append({"role": role, "content": blocks})
    return messages


def _blocks(turn: Turn) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(turn, UserTurn):
        return "user", [_user_block(part) for part in turn.parts if part != TextPart("")]
    if isinstance(turn, AssistantTurn):
        blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
        blocks += [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            for call in turn.calls
        ]
        return "assistant", blocks
    if not isinstance(turn, ToolTurn):  # pragma: no cover - Turn has three kinds
        raise TypeError(turn)
    return "user", [{"type": "tool_result", "tool_use_id": turn.call_id, "content": turn.content}]


def _user_block(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": part.media_type, "data": part.data},
    }


def _add_tools(body: dict[str, Any], chat: ChatRequest) -> None:
    tools = list(chat.tools)
    choice: dict[str, Any] | None = None
    if chat.tool_choice is not None:
        mode, names = chat.tool_choice.mode, chat.tool_choice.names
        if mode == "none":
            choice = {"type": "none"}
        elif mode == "required" and len(names) == 1:
            choice = {"type": "tool", "name": names[0]}
        else:
            # allowed_tools: Anthropic cannot narrow the choice, so declare only those tools.
            if names:
                tools = [tool for tool in tools if tool.name in names]
            choice = {"type": "any" if mode == "required" else "auto"}
    if chat.parallel_tool_calls is False and tools and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if tools:
        body["tools"] = [_tool(tool) for tool in tools]
    if choice is not None:
        body["tool_choice"] = choice


def _tool(tool: FunctionTool) -> dict[str, Any]:
    native: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        native["description"] = tool.description
    native["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict is not None:
        native["strict"] = tool.strict
    return native


def _output_config(chat: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if chat.reasoning_effort is not None:
        config["effort"] = _EFFORTS[chat.reasoning_effort]
    if chat.json_output is not None:
        if chat.json_output.schema is None:
            raise unsupported(
                "response_format",
                'Anthropic has no schemaless JSON mode; send response_format {"type": '
                '"json_schema", "json_schema": {"name": ..., "schema": {...}}} instead.',
            )
        config["format"] = {"type": "json_schema", "schema": chat.json_output.schema}
    return config


class AnthropicChatStream(ChatStreamBase):
    """Anthropic stream events (message_start … message_stop) → Chat chunk frames."""

    def __init__(self, *, model: str, include_usage: bool, created: int) -> None:
        super().__init__(model=model, include_usage=include_usage, created=created)
        self._tool_index_of_block: dict[int, int] = {}
        self._native_usage: dict[str, Any] = {}
        self._stop_reason: Any = None

    def feed(self, event: SseEvent) -> list[bytes]:
        try:
            data = event.json()
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or event.event
        if kind == "message_start":
            message = data.get("message") or {}
            self._set_id(message.get("id"))
            self._take_usage(message.get("usage"))
            return []
        if kind == "content_block_start":
            return self._block_start(data.get("index"), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(data.get("index"), data.get("delta") or {})
        if kind == "message_delta":
            self._stop_reason = (data.get("delta") or {}).get("stop_reason") or self._stop_reason
            self._take_usage(data.get("usage"))
            return []
        if kind == "message_stop":
            self._usage = chat_usage(self._native_usage)
            return self._close(_finish_reason(self._stop_reason, self._tool_calls > 0))
        if kind == "error":
            error = data.get("error") or {}
            return self._fail(
                error.get("message") or "the upstream failed mid-answer", code=error.get("type")
            )
        return []  # ping, content_block_stop, and events a newer API version may add

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            # message_delta counts are cumulative; a null there keeps message_start's value.
            self._native_usage.update({k: v for k, v in usage.items() if v is not None})
            self._set_service_tier(usage.get("service_tier"))

    def _block_start(self, index: Any, block: dict[str, Any]) -> list[bytes]:
        if block.get("type") == "text":
            return self._text(block.get("text") or "")
        if block.get("type") == "tool_use" and isinstance(index, int):
            tool_index, frames = self._tool_start(block.get("id") or "", block.get("name") or "")
            self._tool_index_of_block[index] = tool_index
            if block.get("input"):
                frames += self._tool_arguments(tool_index, arguments_json(block["input"]))
            return frames
        return []  # thinking blocks have no Chat field

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[bytes]:
        if delta.get("type") == "text_delta":
            return self._text(delta.get("text") or "")
        if delta.get("type") == "input_json_delta" and index in self._tool_index_of_block:
            return self._tool_arguments(
                self._tool_index_of_block[index], delta.get("partial_json") or ""
            )
        return []
