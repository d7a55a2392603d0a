"""OpenAI Chat Completions, both ways: as a caller's surface (its requests read into the
intermediate form, answers written as ``chat.completion`` chunks and objects) and as the API the
router speaks to OpenAI models for every other caller surface.

Why Chat, not Responses, upstream: it is stateless (no server-side conversation to keep out of),
its stream is one chunk shape, and every OpenAI text model serves it with ``service_tier``. What
it loses: OpenAI does not return reasoning text through it, so a caller asking to see reasoning
(Anthropic ``thinking``, Gemini ``includeThoughts``) gets none from an OpenAI model; the effort
or budget still steers it (``reasoning_effort``).

Request fields are sorted into four groups: mapped; dropped because dropping cannot change the
answer a caller relies on (``_DROPPED``); refused with ``unsupported_feature`` because the
provider reached cannot honour them (``_REFUSALS``); and unknown, which pass through untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from flexgrpc.domain import ROUTER_FIELDS
from flexgrpc.providers.presenting import CostView
from flexgrpc.providers.sse import SseEvent, format_event, json_event
from flexgrpc.providers.translate import call_ids, fields
from flexgrpc.providers.translate.ir import (
    EFFORTS,
    Answer,
    AnswerToolCall,
    Effort,
    Event,
    Failed,
    Feature,
    Finished,
    FinishReason,
    Inexpressible,
    JsonOutput,
    Media,
    Part,
    ReasoningControl,
    Request,
    Started,
    Text,
    TextDelta,
    Tool,
    ToolArgumentsDelta,
    ToolCall,
    ToolCallStarted,
    ToolChoice,
    ToolResult,
    Turn,
    Usage,
    invalid,
    unsupported,
)

#: Chat fields the reader maps (or the adapter sets: stream).
_MAPPED: Final = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "stop", "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format",
        "reasoning_effort", "user", "safety_identifier", "store",
    }
)  # fmt: skip

#: Dropped without a word: transport or OpenAI-side bookkeeping, or latency/caching hints.
_DROPPED: Final = frozenset(
    {
        "stream", "stream_options", "service_tier", "metadata", "prompt_cache_key",
        "prompt_cache_retention", "prompt_cache_options", "prediction", "verbosity",
    }
)  # fmt: skip


def _truthy(value: Any) -> bool:
    return bool(value)


def _n_above_one(value: Any) -> bool:
    return value is not None and value != 1


def _nonzero(value: Any) -> bool:
    return value not in (None, 0, 0.0)


def _audio_modality(value: Any) -> bool:
    return isinstance(value, list) and "audio" in value


_REFUSALS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("n", _n_above_one, "remove it or set `n` to 1, and send one request per choice"),
    ("logprobs", _truthy, "remove it or set it to false"),
    ("top_logprobs", _truthy, "remove it"),
    ("logit_bias", _truthy, "remove it"),
    ("frequency_penalty", _nonzero, "remove it or set it to 0"),
    ("presence_penalty", _nonzero, "remove it or set it to 0"),
    ("audio", _truthy, "remove it; audio output is only available on OpenAI models"),
    ("modalities", _audio_modality, 'remove "audio" from it'),
    ("web_search_options", _truthy, "remove it, or call an OpenAI search model"),
    ("moderation", _truthy, "remove it; moderation runs only on OpenAI models"),
    ("functions", _truthy, "declare them in `tools` instead (the Chat API deprecated it)"),
    ("function_call", _truthy, "use `tool_choice` instead (the Chat API deprecated it)"),
)
_REFUSED: Final = frozenset(name for name, _, _ in _REFUSALS)


# ==========================================================================================
# Caller side: a Chat request
# ==========================================================================================


def read_request(body: dict[str, Any], *, target: str) -> Request:
    """A Chat Completions body in the intermediate form; ``target`` words the refusals."""
    for name, is_used, remedy in _REFUSALS:
        if name in body and is_used(body[name]):
            raise unsupported(
                name,
                f"`{name}` has no equivalent when a Chat Completions request reaches a "
                f"{target} model; {remedy}.",
            )
    turns, system = _messages(body.get("messages"), target)
    return Request(
        model=fields.string(body.get("model"), "model"),
        system=system,
        turns=turns,
        tools=_tools(body.get("tools"), target),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=fields.optional_bool(
            body.get("parallel_tool_calls"), "parallel_tool_calls"
        ),
        max_tokens=_max_tokens(body),
        temperature=fields.optional_number(body.get("temperature"), "temperature"),
        top_p=fields.optional_number(body.get("top_p"), "top_p"),
        stop=fields.strings(body.get("stop"), "stop"),
        seed=fields.optional_int(body.get("seed"), "seed"),
        output=_json_output(body.get("response_format")),
        reasoning=_reasoning(body.get("reasoning_effort")),
        end_user=_end_user(body),
        store=fields.optional_bool(body.get("store"), "store"),
        passthrough={
            key: value
            for key, value in body.items()
            if key not in _MAPPED
            and key not in _DROPPED
            and key not in _REFUSED
            and key not in ROUTER_FIELDS
        },
    )


def _max_tokens(body: dict[str, Any]) -> int | None:
    # The Chat API deprecated max_tokens for max_completion_tokens; the newer field wins.
    for name in ("max_completion_tokens", "max_tokens"):
        value = fields.positive_int(body.get(name), name)
        if value is not None:
            return value
    return None


def _json_output(value: Any) -> JsonOutput | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonOutput()
    if kind == "json_schema":
        spec = value.get("json_schema")
        spec = spec if isinstance(spec, dict) else {}
        where = "response_format.json_schema.schema"
        return JsonOutput(
            schema=fields.schema(spec.get("schema"), where),
            name=spec.get("name") if isinstance(spec.get("name"), str) else None,
            strict=spec.get("strict") if isinstance(spec.get("strict"), bool) else None,
        )
    raise invalid(
        "response_format", '`response_format.type` must be "text", "json_object" or "json_schema".'
    )


def effort(value: Any, where: str) -> Effort | None:
    """One of the effort levels every format shares (``ir.EFFORTS``)."""
    if value is None:
        return None
    for level in EFFORTS:
        if value == level:
            return level
    raise invalid(where, f"`{where}` must be one of {', '.join(EFFORTS)}.")


def _reasoning(value: Any) -> ReasoningControl | None:
    level = effort(value, "reasoning_effort")
    return ReasoningControl(effort=level) if level is not None else None


def _end_user(body: dict[str, Any]) -> str | None:
    # `safety_identifier` replaced `user` in the Chat API; either names the end user.
    for name in ("safety_identifier", "user"):
        value = body.get(name)
        if value is not None:
            return fields.string(value, name)
    return None


def _messages(messages: Any, target: str) -> tuple[tuple[Turn, ...], tuple[str, ...]]:
    if not isinstance(messages, list):
        raise invalid("messages", "`messages` must be a list of messages.")
    system: list[str] = []
    turns: list[Turn] = []
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(where, f"`{where}` must be an object with a `role`.")
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            system.append(_text_only(content, f"{where}.content"))
        elif role == "user":
            turns.append(Turn("user", _user_parts(content, f"{where}.content", target)))
        elif role == "assistant":
            turn = _assistant_turn(message, where, target)
            names.update((p.id, p.name) for p in turn.parts if isinstance(p, ToolCall))
            turns.append(turn)
        elif role == "tool":
            caller_id = fields.string(message.get("tool_call_id"), f"{where}.tool_call_id")
            call_id, _ = call_ids.split(caller_id)
            text = _text_only(content, f"{where}.content")
            turns.append(Turn("user", (ToolResult(call_id, text, names.get(call_id)),)))
        elif role == "function":
            raise unsupported(
                f"{where}.role",
                'the "function" role is deprecated in the Chat API; send tool results as '
                '"tool" messages with a `tool_call_id`.',
            )
        else:
            raise invalid(
                f"{where}.role",
                f"`{where}.role` must be system, developer, user, assistant or tool.",
            )
    return tuple(turns), tuple(system)


def _text_only(content: Any, where: str) -> str:
    """Content that may only hold text (system, developer, tool, assistant messages)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(where, f"`{where}` must be a string or a list of content parts.")
    texts: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind != "refusal":  # an earlier refusal, shown to the user, is not model input
            raise invalid(
                f"{where}[{j}]",
                f"`{where}[{j}]` must be a text part; only user messages carry images.",
            )
    return "".join(texts)


def _user_parts(content: Any, where: str, target: str) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (Text(content),)
    if not isinstance(content, list):
        raise invalid(where, f"`{where}` must be a string or a list of content parts.")
    parts: list[Part] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(Text(part["text"]))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            parts.append(fields.media_url(url, f"{at}.image_url.url"))
        elif kind == "file":
            parts.append(_file(part.get("file"), at, target))
        elif kind == "input_audio":
            raise unsupported(
                at,
                f"audio input cannot be translated for a {target} model; send text, images "
                "or documents, or call an OpenAI audio model.",
            )
        else:
            raise invalid(at, f"`{at}.type` must be text, image_url or file.")
    return tuple(parts)


def _file(file: Any, where: str, target: str) -> Media:
    data = file.get("file_data") if isinstance(file, dict) else None
    if isinstance(data, str) and data.startswith("data:"):
        return fields.data_url(data, f"{where}.file.file_data", kind="document")
    raise unsupported(
        where,
        f"a {target} model takes files inline: send `file.file_data` as a base64 data URL "
        "(data:application/pdf;base64,...); a `file_id` names a file on OpenAI's side only.",
    )


def _assistant_turn(message: dict[str, Any], where: str, target: str) -> Turn:
    if message.get("function_call"):
        raise unsupported(
            f"{where}.function_call",
            "`function_call` on assistant messages is deprecated in the Chat API; send "
            "`tool_calls` instead.",
        )
    text = _text_only(message.get("content"), f"{where}.content")
    parts: list[Part] = [Text(text)] if text else []
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise invalid(f"{where}.tool_calls", f"`{where}.tool_calls` must be a list.")
    for j, raw in enumerate(raw_calls):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(raw, dict) or raw.get("type", "function") != "function":
            raise unsupported(
                at, f"only function tool calls can be translated for a {target} model."
            )
        function = raw.get("function")
        if not isinstance(function, dict):
            raise invalid(f"{at}.function", f"`{at}.function` must be an object.")
        call_id, signature = call_ids.split(fields.string(raw.get("id"), f"{at}.id"))
        parts.append(
            ToolCall(
                id=call_id,
                name=fields.string(function.get("name"), f"{at}.function.name"),
                arguments=fields.arguments(function.get("arguments"), f"{at}.function.arguments"),
                signature=signature,
            )
        )
    return Turn("assistant", tuple(parts))


def _tools(tools: Any, target: str) -> tuple[Tool, ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise invalid("tools", "`tools` must be a list of function tools.")
    found: list[Tool] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise unsupported(
                where,
                f"only `function` tools can be translated for a {target} model; declare it "
                'as {"type": "function", "function": {...}}.',
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise invalid(f"{where}.function", f"`{where}.function` must be an object.")
        description, parameters, strict = (
            function.get("description"),
            function.get("parameters"),
            function.get("strict"),
        )
        found.append(
            Tool(
                name=fields.string(function.get("name"), f"{where}.function.name"),
                description=description if isinstance(description, str) else None,
                parameters=parameters if isinstance(parameters, dict) else None,
                strict=strict if isinstance(strict, bool) else None,
            )
        )
    return tuple(found)


def _tool_choice(choice: Any) -> ToolChoice | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        return ToolChoice("required", (fields.string(name, "tool_choice.function.name"),))
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools")
        if isinstance(allowed, dict) and allowed.get("mode") in ("auto", "required"):
            names = tuple(
                fields.string(_function_name(tool), f"tool_choice.allowed_tools.tools[{i}]")
                for i, tool in enumerate(allowed.get("tools") or [])
            )
            return ToolChoice("auto" if allowed["mode"] == "auto" else "required", names)
    raise invalid(
        "tool_choice",
        '`tool_choice` must be "auto", "none", "required", a named function '
        '({"type": "function", "function": {"name": "..."}}) or allowed_tools.',
    )


def _function_name(tool: Any) -> Any:
    function = tool.get("function") if isinstance(tool, dict) else None
    return function.get("name") if isinstance(function, dict) else None


# ==========================================================================================
# Caller side: Chat answers
# ==========================================================================================

_FINISH: Final[Mapping[FinishReason, str]] = {reason: reason.value for reason in FinishReason}


def chat_service_tier(native_tier: str | None) -> str | None:
    """The served tier in Chat's words: Anthropic's and Gemini's ``standard`` is ``default``."""
    if native_tier is None:
        return None
    return "default" if native_tier == "standard" else native_tier


def usage_dict(usage: Usage) -> dict[str, Any]:
    """Chat's usage block (its decomposition is the intermediate one)."""
    return {
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.output,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached,
            "cache_write_tokens": usage.cache_write,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def answer_body(answer: Answer, *, model: str, created: int) -> dict[str, Any]:
    """A ``chat.completion`` with one choice."""
    calls = [
        {
            "id": call_ids.join(call.id, call.signature),
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in answer.tool_calls
    ]
    message: dict[str, Any] = {
        "role": "assistant",
        # Chat sends null content for a turn that is only tool calls.
        "content": None if calls and not answer.text else answer.text,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": answer.id or f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _FINISH[answer.finish],
            }
        ],
        "usage": usage_dict(answer.usage),
        "service_tier": chat_service_tier(answer.service_tier),
        "system_fingerprint": None,
    }


def _frame(payload: dict[str, Any]) -> bytes:
    return json_event(payload)


DONE_FRAME = format_event("[DONE]")


def error_frame(message: str, *, code: str | None = None, type: str = "api_error") -> bytes:
    """An in-band stream error in OpenAI's shape (the ``openai`` SDK raises ``APIError``)."""
    return _frame({"error": {"message": message, "type": type, "param": None, "code": code}})


def wants_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


class ChatEncoder:
    """Intermediate events → ``chat.completion.chunk`` frames: one stable id/created/model, the
    role on the first delta, tool-call indexes, the finish chunk, the usage chunk (when asked
    for, or when it carries the cost) and ``[DONE]``."""

    def __init__(self, *, model: str, include_usage: bool, created: int) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = created
        self._id: str | None = None
        self._service_tier: str | None = None
        self._started = False
        self._closed: Finished | None = None  # the finish chunk went out
        self._failed = False  # an in-band error went out

    def frames(self, event: Event, cost: CostView | None) -> list[bytes]:
        if self._failed or self._closed is not None:
            return []
        if isinstance(event, Started):
            if self._id is None and event.id:
                self._id = event.id
            return []
        if isinstance(event, TextDelta):
            return [*self._open(), self._chunk({"content": event.text})] if event.text else []
        if isinstance(event, ToolCallStarted):
            return self._tool_start(event)
        if isinstance(event, ToolArgumentsDelta):
            if not event.fragment:
                return []
            delta = {
                "tool_calls": [{"index": event.index, "function": {"arguments": event.fragment}}]
            }
            return [self._chunk(delta)]
        if isinstance(event, Finished):
            self._service_tier = chat_service_tier(event.service_tier)
            self._closed = event
            return [*self._open(), self._chunk({}, _FINISH[event.reason])]
        if isinstance(event, Failed):
            self._failed = True
            return [error_frame(event.message, code=event.code)]
        return []  # reasoning: Chat has no field for it

    def end(self, cost: CostView | None) -> list[bytes]:
        if self._failed:
            return []
        if self._closed is None:
            self._failed = True
            return [error_frame("the upstream stream ended before the answer was complete")]
        frames: list[bytes] = []
        if self._include_usage or cost is not None:
            usage = usage_dict(self._closed.usage)
            if cost is not None:
                usage["cost"] = cost
            frames.append(_frame({**self._head(), "choices": [], "usage": usage}))
        frames.append(DONE_FRAME)
        return frames

    def error_frame(self, code: str, message: str) -> bytes:
        return error_frame(message, code=code)

    def _head(self) -> dict[str, Any]:
        if self._id is None:
            self._id = f"chatcmpl-{uuid.uuid4().hex}"
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "service_tier": self._service_tier,
            "system_fingerprint": None,
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        payload: dict[str, Any] = {
            **self._head(),
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self._include_usage:
            payload["usage"] = None  # as OpenAI does: null on every chunk but the last
        return _frame(payload)

    def _open(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _tool_start(self, event: ToolCallStarted) -> list[bytes]:
        call = {
            "index": event.index,
            "id": call_ids.join(event.id, event.signature),
            "type": "function",
            "function": {"name": event.name, "arguments": ""},
        }
        if self._started:
            return [self._chunk({"tool_calls": [call]})]
        # The first output is a tool call: role and call share the first delta, content null.
        self._started = True
        return [self._chunk({"role": "assistant", "content": None, "tool_calls": [call]})]


_FIELDS: Final[Mapping[Feature, str]] = {
    Feature.JSON_WITHOUT_SCHEMA: "response_format",
    Feature.TOP_K: "top_k",
    Feature.DOCUMENT: "messages",
    Feature.IMAGE: "messages",
    Feature.TOOL_CHOICE: "tool_choice",
}


class ChatCaller:
    """Chat Completions as a caller's surface (a ``CallerFormat``)."""

    name = "Chat Completions"

    def field_of(self, feature: Feature) -> str:
        return _FIELDS[feature]

    def read_request(self, body: dict[str, Any], *, target: str) -> Request:
        return read_request(body, target=target)

    def encoder(self, *, model: str, body: dict[str, Any], created: int) -> ChatEncoder:
        return ChatEncoder(model=model, include_usage=wants_usage(body), created=created)

    def answer_body(self, answer: Answer, *, model: str, created: int) -> dict[str, Any]:
        return answer_body(answer, model=model, created=created)


# ==========================================================================================
# Upstream side: the Chat API for OpenAI models
# ==========================================================================================

_TARGET = "OpenAI (gpt-*, o*)"


def write_request(request: Request) -> dict[str, Any]:
    """The Chat body for an OpenAI model (``stream``, ``stream_options`` and ``service_tier``
    are the adapter's)."""
    body: dict[str, Any] = {"model": request.model, "messages": _chat_messages(request)}
    if request.max_tokens is not None:
        body["max_completion_tokens"] = request.max_tokens
    for name, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("seed", request.seed),
        ("store", request.store),
        ("parallel_tool_calls", request.parallel_tool_calls),
        ("safety_identifier", request.end_user),
    ):
        if value is not None:
            body[name] = value
    if request.top_k is not None:
        raise Inexpressible(Feature.TOP_K, "OpenAI models have no top_k sampling: remove it")
    if request.stop:
        body["stop"] = list(request.stop)
    if request.tools:
        body["tools"] = [_chat_tool(tool) for tool in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _chat_tool_choice(request.tool_choice)
    if request.output is not None:
        body["response_format"] = _response_format(request.output)
    if request.reasoning is not None:
        body["reasoning_effort"] = _effort_of(request.reasoning)
    for key, value in request.passthrough.items():
        body.setdefault(key, value)
    return body


def _effort_of(control: ReasoningControl) -> str:
    """An effort level for OpenAI; a token budget is read as the nearest level."""
    if control.effort is not None:
        return "high" if control.effort == "max" else control.effort
    budget = control.budget_tokens or 0
    if budget == 0:
        return "minimal"
    return "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"


def _chat_messages(request: Request) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system_text is not None:
        messages.append({"role": "system", "content": request.system_text})
    for turn in request.turns:
        if turn.role == "assistant":
            messages.append(_assistant_message(turn))
            continue
        content: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, ToolResult):  # a Chat tool result is a message of its own
                messages.append(
                    {"role": "tool", "tool_call_id": part.call_id, "content": part.content}
                )
            else:
                content.append(_user_content(part))
        if content:
            messages.append({"role": "user", "content": content})
    return messages


def _user_content(part: Part) -> dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, Media) and part.kind == "image":
        url = part.url if part.url is not None else fields.as_data_url(part)
        return {"type": "image_url", "image_url": {"url": url}}
    if isinstance(part, Media) and part.data is not None:
        return {"type": "file", "file": {"file_data": fields.as_data_url(part)}}
    raise Inexpressible(
        Feature.DOCUMENT, "OpenAI models take documents inline only: send the document as base64"
    )


def _assistant_message(turn: Turn) -> dict[str, Any]:
    text = "".join(p.text for p in turn.parts if isinstance(p, Text))
    calls = [
        {
            "id": p.id,
            "type": "function",
            "function": {"name": p.name, "arguments": fields.arguments_json(p.arguments)},
        }
        for p in turn.parts
        if isinstance(p, ToolCall)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message  # earlier reasoning is not Chat input: OpenAI keeps its own


def _chat_tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: ToolChoice) -> Any:
    if choice.mode == "none" or not choice.names:
        return choice.mode
    if choice.mode == "required" and len(choice.names) == 1:
        return {"type": "function", "function": {"name": choice.names[0]}}
    tools = [{"type": "function", "function": {"name": name}} for name in choice.names]
    return {"type": "allowed_tools", "allowed_tools": {"mode": choice.mode, "tools": tools}}


def _response_format(output: JsonOutput) -> dict[str, Any]:
    if output.schema is None:
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": output.name or "answer", "schema": dict(output.schema)}
    if output.strict is not None:
        spec["strict"] = output.strict
    return {"type": "json_schema", "json_schema": spec}


def _finish_of(reason: Any) -> FinishReason:
    try:
        return FinishReason(reason)
    except ValueError:
        return FinishReason.STOP


def _usage_of(block: Any) -> Usage:
    block = block if isinstance(block, dict) else {}

    def count(inner: Any, name: str) -> int:
        value = inner.get(name) if isinstance(inner, dict) else None
        return value if isinstance(value, int) else 0

    return Usage(
        input=count(block, "prompt_tokens"),
        output=count(block, "completion_tokens"),
        cached=count(block.get("prompt_tokens_details"), "cached_tokens"),
        reasoning=count(block.get("completion_tokens_details"), "reasoning_tokens"),
    )


class ChatDecoder:
    """``chat.completion.chunk`` events (OpenAI's stream) → intermediate events."""

    def __init__(self) -> None:
        self._started = False
        self._finish: FinishReason | None = None
        self._usage = Usage()
        self._tier: str | None = None
        self._calls: set[int] = set()

    def feed(self, event: SseEvent) -> list[Event]:
        if event.data.strip() == "[DONE]":
            if self._finish is None:
                return []
            return [Finished(self._finish, self._usage, self._tier)]
        try:
            chunk = event.json()
        except ValueError:
            return []
        if not isinstance(chunk, dict):
            return []
        if isinstance(chunk.get("error"), dict):
            error = chunk["error"]
            code = error.get("code")
            return [
                Failed(str(error.get("message") or "the upstream failed mid-answer"),
                       code if isinstance(code, str) else None)
            ]  # fmt: skip
        out: list[Event] = []
        if not self._started:
            self._started = True
            out.append(Started(chunk.get("id"), chunk.get("model")))
        if isinstance(chunk.get("service_tier"), str):
            self._tier = chunk["service_tier"]
        if isinstance(chunk.get("usage"), dict):
            self._usage = _usage_of(chunk["usage"])
        for choice in chunk.get("choices") or []:
            out += self._choice(choice)
        return out

    def _choice(self, choice: Any) -> list[Event]:
        if not isinstance(choice, dict):
            return []
        out: list[Event] = []
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str) and content:
            out.append(TextDelta(content))
        for call in delta.get("tool_calls") or []:
            index = call.get("index", 0) if isinstance(call, dict) else 0
            function = call.get("function") or {} if isinstance(call, dict) else {}
            if index not in self._calls:
                self._calls.add(index)
                call_id, signature = call_ids.split(str(call.get("id") or ""))
                out.append(
                    ToolCallStarted(index, call_id, str(function.get("name") or ""), signature)
                )
            fragment = function.get("arguments")
            if isinstance(fragment, str) and fragment:
                out.append(ToolArgumentsDelta(index, fragment))
        if choice.get("finish_reason") is not None:
            self._finish = _finish_of(choice["finish_reason"])
        return out


def read_answer(native: dict[str, Any]) -> Answer:
    """A ``chat.completion`` in the intermediate form."""
    choices = native.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        call_id, signature = call_ids.split(str(call.get("id") or ""))
        calls.append(
            AnswerToolCall(call_id, str(function.get("name") or ""),
                           str(function.get("arguments") or "{}"), signature)
        )  # fmt: skip
    content = message.get("content")
    return Answer(
        id=native.get("id"),
        model=native.get("model"),
        text=content if isinstance(content, str) else "",
        tool_calls=tuple(calls),
        finish=_finish_of(choice.get("finish_reason")),
        usage=_usage_of(native.get("usage")),
        service_tier=native.get("service_tier")
        if isinstance(native.get("service_tier"), str)
        else None,
    )


class ChatUpstream:
    """The Chat API as the router speaks it to OpenAI models (an ``UpstreamFormat``)."""

    target = _TARGET

    def write_request(self, request: Request) -> dict[str, Any]:
        return write_request(request)

    def decoder(self) -> ChatDecoder:
        return ChatDecoder()

    def read_answer(self, native: dict[str, Any]) -> Answer:
        return read_answer(native)
