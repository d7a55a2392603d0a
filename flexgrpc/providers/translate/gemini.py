"""Chat Completions ⇄ Gemini Interactions (``POST /v1beta/interactions``), steps schema.

The body follows the Interactions API as of revision ``GEMINI_API_REVISION`` (the provider
adapter sends it as the ``Api-Revision`` header): the conversation goes in ``input`` as a list of
steps — ``user_input`` and ``model_output`` (each with ``content`` parts), ``function_call``
(``id``, ``name``, ``arguments`` object) and ``function_result`` (``call_id``, ``name``,
``result``); ``system_instruction`` is a string; tools are ``{"type": "function", name,
description, parameters}``; sampling, limits and ``tool_choice`` live in ``generation_config``.
Chat is stateless, so ``store`` is false unless the caller set ``store: true``.

A response is an interaction with ``status``, the output ``steps`` (thought, model_output,
function_call), ``usage`` (``total_input_tokens``, ``total_cached_tokens``,
``total_output_tokens``, ``total_thought_tokens``, ``total_tool_use_tokens``) and the served
``service_tier``. A stream is ``interaction.created``, ``interaction.status_update``, then per
step ``step.start`` / ``step.delta`` (``text``, ``arguments_delta``, ``thought_signature``,
``thought_summary``) / ``step.stop``, and finally ``interaction.completed`` (status, usage).

Thought signatures: Gemini 3 rejects a function-calling history without the signature of the
thought that preceded each call. Chat has no place for it, so the signature rides inside the
tool call id (``<call id>__thought__<signature>``), which Chat clients echo back verbatim in the
assistant turn and as ``tool_call_id``; ``request`` splits it off again.
"""

from __future__ import annotations

import mimetypes
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
)

#: The Interactions API revision these shapes follow (the ``Api-Revision`` request header).
GEMINI_API_REVISION = "2026-05-20"

#: Joins a Gemini function-call id and the thought signature that must travel with it.
THOUGHT_SEPARATOR = "__thought__"

_PROVIDER = "Gemini (gemini-*)"

# Chat's reasoning_effort → generation_config.thinking_level (Gemini's floor is "minimal").
_THINKING_LEVELS = {
    "none": "minimal",
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "xhigh",
}

# Interaction statuses that end an answer early for lack of room.
_LENGTH_STATUSES = frozenset({"incomplete", "budget_exceeded"})
_FAILED_STATUSES = frozenset({"failed", "cancelled"})


def chat_call_id(call_id: str, signature: str | None) -> str:
    """The Chat tool call id for a Gemini call (carrying the thought signature, if any)."""
    return f"{call_id}{THOUGHT_SEPARATOR}{signature}" if signature else call_id


def split_call_id(chat_id: str) -> tuple[str, str | None]:
    """``(Gemini call id, thought signature or None)`` from a Chat tool call id."""
    call_id, sep, signature = chat_id.partition(THOUGHT_SEPARATOR)
    return call_id, (signature or None) if sep else None


class GeminiTranslator:
    """The ``ChatTranslator`` for ``gemini-*`` models (Interactions API)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def request(self, chat_body: dict[str, Any]) -> dict[str, Any]:
        chat = parse_chat_request(chat_body, provider=_PROVIDER)
        body: dict[str, Any] = {"model": chat.model, "input": _steps(chat.turns)}
        if chat.system_text is not None:
            body["system_instruction"] = chat.system_text
        if chat.tools:
            body["tools"] = [_tool(tool) for tool in chat.tools]
        generation_config = _generation_config(chat)
        if generation_config:
            body["generation_config"] = generation_config
        if chat.json_output is not None:
            text_format: dict[str, Any] = {"type": "text", "mime_type": "application/json"}
            if chat.json_output.schema is not None:
                text_format["schema"] = chat.json_output.schema
            body["response_format"] = text_format
        body["store"] = bool(chat.store)
        # Dropped: `parallel_tool_calls` (Gemini decides; Chat clients take any number of
        # calls) and `user`/`safety_identifier` (Gemini has no end-user field).
        for key, value in chat.passthrough.items():
            body.setdefault(key, value)
        return body

    def response(self, native: dict[str, Any], *, model: str) -> dict[str, Any]:
        text: list[str] = []
        calls: list[ToolCall] = []
        signature: str | None = None
        for step in native.get("steps") or []:
            if not isinstance(step, dict):
                continue
            kind = step.get("type")
            if kind == "model_output":
                text += _texts(step.get("content"))
            elif kind == "thought" and isinstance(step.get("signature"), str):
                signature = step["signature"]
            elif kind == "function_call":
                calls.append(
                    ToolCall(
                        chat_call_id(step.get("id") or "", signature),
                        step.get("name") or "",
                        arguments_json(step.get("arguments")),
                    )
                )
                signature = None  # a thought's signature travels with the first call after it
        usage = native.get("usage")
        return completion_object(
            id=native.get("id") or f"chatcmpl-{uuid.uuid4().hex}",
            created=int(self._clock()),
            model=model,
            text="".join(text),
            tool_calls=calls,
            finish_reason=_finish_reason(native.get("status"), bool(calls)),
            usage=chat_usage(usage if isinstance(usage, dict) else {}),
            service_tier=chat_service_tier(native.get("service_tier")),
        )

    def stream(self, *, model: str, include_usage: bool) -> GeminiChatStream:
        return GeminiChatStream(
            model=model, include_usage=include_usage, created=int(self._clock())
        )


def chat_usage(usage: dict[str, Any]) -> ChatUsage:
    """Gemini usage in Chat's decomposition. Thought and tool-use-prompt tokens are reported
    beside the output and input totals (not inside them), so they are added in."""

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) else 0

    thoughts = count("total_thought_tokens")
    return ChatUsage(
        prompt_tokens=count("total_input_tokens") + count("total_tool_use_tokens"),
        completion_tokens=count("total_output_tokens") + thoughts,
        cached_tokens=count("total_cached_tokens"),
        reasoning_tokens=thoughts,
    )


def _finish_reason(status: Any, has_calls: bool) -> FinishReason:
    if has_calls:
        return "tool_calls"
    return "length" if status in _LENGTH_STATUSES else "stop"


def _texts(content: Any) -> list[str]:
    return [
        part["text"]
        for part in content or []
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ]


def _steps(turns: tuple[Turn, ...]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for turn in turns:
        if isinstance(turn, UserTurn):
            steps.append({"type": "user_input", "content": [_content(p) for p in turn.parts]})
        elif isinstance(turn, AssistantTurn):
            if turn.text:
                steps.append(
                    {"type": "model_output", "content": [{"type": "text", "text": turn.text}]}
                )
            for call in turn.calls:
                call_id, signature = split_call_id(call.id)
                if signature is not None:
                    steps.append({"type": "thought", "signature": signature})
                steps.append(
                    {
                        "type": "function_call",
                        "id": call_id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
        elif isinstance(turn, ToolTurn):
            result: dict[str, Any] = {
                "type": "function_result",
                "call_id": split_call_id(turn.call_id)[0],
            }
            if turn.name is not None:
                result["name"] = turn.name
            result["result"] = turn.content
            steps.append(result)
    return steps


def _content(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url is None:
        return {"type": "image", "data": part.data, "mime_type": part.media_type}
    image: dict[str, Any] = {"type": "image", "uri": part.url}
    guessed, _ = mimetypes.guess_type(part.url.split("?", 1)[0])
    if guessed is not None and guessed.startswith("image/"):
        image["mime_type"] = guessed
    return image


def _tool(tool: FunctionTool) -> dict[str, Any]:
    # `strict` is dropped: Gemini always decodes function arguments against the schema.
    native: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description is not None:
        native["description"] = tool.description
    if tool.parameters is not None:
        native["parameters"] = tool.parameters
    return native


def _generation_config(chat: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if chat.max_tokens is not None:
        config["max_output_tokens"] = chat.max_tokens
    if chat.temperature is not None:
        config["temperature"] = chat.temperature
    if chat.top_p is not None:
        config["top_p"] = chat.top_p
    if chat.stop:
        config["stop_sequences"] = list(chat.stop)
    if chat.seed is not None:
        config["seed"] = chat.seed
    if chat.reasoning_effort is not None:
        config["thinking_level"] = _THINKING_LEVELS[chat.reasoning_effort]
    if chat.tool_choice is not None:
        mode = {"auto": "auto", "none": "none", "required": "any"}[chat.tool_choice.mode]
        if chat.tool_choice.names and mode != "none":
            config["tool_choice"] = {
                "allowed_tools": {"mode": mode, "tools": list(chat.tool_choice.names)}
            }
        else:
            config["tool_choice"] = mode
    return config


class GeminiChatStream(ChatStreamBase):
    """Interactions stream events (steps schema) → Chat chunk frames."""

    def __init__(self, *, model: str, include_usage: bool, created: int) -> None:
        super().__init__(model=model, include_usage=include_usage, created=created)
        self._step_types: dict[int, str] = {}
        self._tool_index_of_step: dict[int, int] = {}
        self._whole_arguments: set[int] = set()  # steps whose start already held all arguments
        self._signature: str | None = None
        self._native_usage: dict[str, Any] = {}

    def feed(self, event: SseEvent) -> list[bytes]:
        try:
            data = event.json()
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        kind = data.get("event_type") or event.event
        if kind == "interaction.created":
            self._take_interaction(data.get("interaction"))
            return []
        if kind == "interaction.status_update":
            self._take_usage(data.get("usage"))
            return []
        if kind == "step.start":
            return self._step_start(data.get("index"), data.get("step") or {})
        if kind == "step.delta":
            return self._step_delta(data.get("index"), data.get("delta") or {})
        if kind == "step.stop":
            self._take_usage(data.get("usage"))
            return []
        if kind == "interaction.completed":
            interaction = data.get("interaction") or {}
            self._take_interaction(interaction)
            self._usage = chat_usage(self._native_usage)
            status = interaction.get("status")
            if status in _FAILED_STATUSES:
                return self._fail(f"the upstream interaction ended with status {status!r}")
            return self._close(_finish_reason(status, self._tool_calls > 0))
        if kind == "error":
            error = data.get("error") or {}
            code = error.get("code")
            return self._fail(
                error.get("message") or "the upstream failed mid-answer",
                code=code if isinstance(code, str) else None,
            )
        return []

    def _take_interaction(self, interaction: Any) -> None:
        if isinstance(interaction, dict):
            self._set_id(interaction.get("id"))
            self._set_service_tier(interaction.get("service_tier"))
            self._take_usage(interaction.get("usage"))

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._native_usage.update({k: v for k, v in usage.items() if v is not None})

    def _step_start(self, index: Any, step: dict[str, Any]) -> list[bytes]:
        kind = step.get("type")
        if not isinstance(index, int) or not isinstance(kind, str):
            return []
        self._step_types[index] = kind
        if kind == "model_output":
            return [frame for text in _texts(step.get("content")) for frame in self._text(text)]
        if kind == "thought":
            if isinstance(step.get("signature"), str):
                self._signature = step["signature"]
            return []
        if kind == "function_call":
            call_id = chat_call_id(step.get("id") or "", self._signature)
            self._signature = None
            tool_index, frames = self._tool_start(call_id, step.get("name") or "")
            self._tool_index_of_step[index] = tool_index
            if step.get("arguments"):
                # Arguments that arrive whole cannot be extended by later fragments.
                self._whole_arguments.add(index)
                frames += self._tool_arguments(tool_index, arguments_json(step["arguments"]))
            return frames
        return []

    def _step_delta(self, index: Any, delta: dict[str, Any]) -> list[bytes]:
        kind = delta.get("type")
        step_type = self._step_types.get(index) if isinstance(index, int) else None
        if kind == "text" and step_type in ("model_output", None):
            return self._text(delta.get("text") or "")
        if kind == "thought_signature" and isinstance(delta.get("signature"), str):
            self._signature = delta["signature"]
            return []
        if (
            kind == "arguments_delta"
            and index in self._tool_index_of_step
            and index not in self._whole_arguments
        ):
            return self._tool_arguments(
                self._tool_index_of_step[index], delta.get("arguments") or ""
            )
        return []  # thought summaries and other step kinds have no Chat field
