"""The Chat Completions side of every translation: read a Chat request, write Chat answers.

A Chat request is parsed once into a provider-neutral ``ChatRequest`` (turns, tools, sampling
controls); each provider module maps that to its native body. On the way back, the provider
modules hand neutral pieces (text, tool calls, a finish reason, ``ChatUsage``) to
``completion_object`` or to a ``ChatStreamBase`` subclass, which own the exact Chat wire shapes.

Fields are sorted into four groups (see ``_DROPPED`` and ``_REFUSED``): mapped, dropped because
dropping cannot change the answer a caller relies on, refused with ``unsupported_surface_pair``
because the provider cannot honour them, and unknown, which pass through to the native body
untouched (SPEC §2: unknown fields pass through; it is also the escape hatch for provider-only
controls such as Anthropic ``top_k`` sent through ``extra_body``).
"""

from __future__ import annotations

import binascii
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from flexgrpc.domain import ROUTER_FIELDS
from flexgrpc.errors import FlexError
from flexgrpc.providers.sse import format_event

# The router strips its own fields (ROUTER_FIELDS) before translating; the translator drops
# them too, so a forgotten strip can never leak them to a provider.

#: Chat fields every translation consumes itself (mapped below or set by the caller).
_MAPPED = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "user",
        "safety_identifier",
        "store",
    }
)

#: Chat fields dropped without a word: they steer transport or OpenAI-side bookkeeping (the
#: caller of ``request`` sets ``stream``/``service_tier``), or only tune latency or caching.
_DROPPED = frozenset(
    {
        "stream",
        "stream_options",
        "service_tier",
        "metadata",  # OpenAI stored-completion tags
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "prediction",  # predicted outputs only cut latency
        "verbosity",
    }
)

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
ToolChoiceMode = Literal["auto", "none", "required"]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
_REASONING_EFFORTS: tuple[ReasoningEffort, ...] = (
    "none",
    "minimal",
    "low",
    "medium",
    "high",
    "xhigh",
    "max",
)


def unsupported(field_name: str, message: str) -> FlexError:
    """The error for a Chat feature the provider behind this model cannot honour."""
    return FlexError("unsupported_surface_pair", message, field=field_name)


def invalid(field_name: str, message: str) -> FlexError:
    return FlexError("invalid_argument", message, field=field_name)


# ------------------------------------------------------------------------------------------
# The neutral request
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by ``url`` (http/https) or inline as base64 ``data`` with its ``media_type``."""

    url: str | None = None
    media_type: str | None = None
    data: str | None = None


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class UserTurn:
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One tool call the assistant made earlier in the conversation (arguments parsed)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AssistantTurn:
    text: str
    calls: tuple[CallRequest, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolTurn:
    """A ``tool`` message: the result for ``call_id`` (``name`` looked up from the call)."""

    call_id: str
    name: str | None
    content: str


Turn = UserTurn | AssistantTurn | ToolTurn


@dataclass(frozen=True, slots=True)
class FunctionTool:
    name: str
    description: str | None
    parameters: dict[str, Any] | None
    strict: bool | None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``mode`` plus, when the caller narrowed the choice, the only tool ``names`` allowed."""

    mode: ToolChoiceMode
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JsonOutput:
    """``response_format`` asking for JSON: with a ``schema`` (json_schema) or without."""

    schema: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    system: tuple[str, ...]
    turns: tuple[Turn, ...]
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_output: JsonOutput | None = None
    reasoning_effort: ReasoningEffort | None = None
    end_user: str | None = None
    store: bool | None = None
    passthrough: dict[str, Any] = field(default_factory=dict)

    @property
    def system_text(self) -> str | None:
        """All system/developer messages, joined with a newline (as Anthropic's own
        OpenAI-compatibility layer does), or ``None`` when there are none."""
        return "\n".join(self.system) if self.system else None


def parse_chat_request(body: dict[str, Any], *, provider: str) -> ChatRequest:
    """Parse and check a Chat Completions body; ``provider`` only words the error messages."""
    _refuse_unsupported(body, provider)
    turns, system = _parse_messages(body.get("messages"), provider)
    return ChatRequest(
        model=_string(body.get("model"), "model"),
        system=system,
        turns=turns,
        tools=_parse_tools(body.get("tools"), provider),
        tool_choice=_parse_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=_optional_bool(body.get("parallel_tool_calls"), "parallel_tool_calls"),
        max_tokens=_max_tokens(body),
        temperature=_optional_number(body.get("temperature"), "temperature"),
        top_p=_optional_number(body.get("top_p"), "top_p"),
        stop=_stop(body.get("stop")),
        seed=_optional_int(body.get("seed"), "seed"),
        json_output=_json_output(body.get("response_format")),
        reasoning_effort=_reasoning_effort(body.get("reasoning_effort")),
        end_user=_end_user(body),
        store=_optional_bool(body.get("store"), "store"),
        passthrough={
            key: value
            for key, value in body.items()
            if key not in _MAPPED
            and key not in _DROPPED
            and key not in _REFUSED
            and key not in ROUTER_FIELDS
        },
    )


def _refuse_unsupported(body: dict[str, Any], provider: str) -> None:
    for name, is_used, remedy in _REFUSALS:
        if name in body and is_used(body[name]):
            raise unsupported(
                name,
                f"`{name}` has no equivalent when a Chat Completions request reaches a "
                f"{provider} model; {remedy}.",
            )


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
_REFUSED = frozenset(name for name, _, _ in _REFUSALS)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise invalid(where, f"`{where}` must be a string.")
    return value


def _optional_bool(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise invalid(where, f"`{where}` must be true or false.")


def _optional_int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(where, f"`{where}` must be an integer.")
    return value


def _optional_number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(where, f"`{where}` must be a number.")
    return float(value)


def _max_tokens(body: dict[str, Any]) -> int | None:
    # The Chat API deprecated max_tokens for max_completion_tokens; the newer field wins.
    for name in ("max_completion_tokens", "max_tokens"):
        value = _optional_int(body.get(name), name)
        if value is not None:
            if value < 1:
                raise invalid(name, f"`{name}` must be at least 1, for example 1024.")
            return value
    return None


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise invalid("stop", '`stop` must be a string or a list of strings, for example ["\\n\\n"].')


def _json_output(value: Any) -> JsonOutput | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonOutput(schema=None)
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise invalid(
                "response_format.json_schema.schema",
                "`response_format.json_schema.schema` must be a JSON Schema object.",
            )
        return JsonOutput(schema=schema)
    raise invalid(
        "response_format",
        '`response_format.type` must be "text", "json_object" or "json_schema".',
    )


def _reasoning_effort(value: Any) -> ReasoningEffort | None:
    if value is None:
        return None
    for effort in _REASONING_EFFORTS:
        if value == effort:
            return effort
    raise invalid(
        "reasoning_effort",
        f"`reasoning_effort` must be one of {', '.join(_REASONING_EFFORTS)}.",
    )


def _end_user(body: dict[str, Any]) -> str | None:
    # `safety_identifier` replaced `user` in the Chat API; either names the end user.
    for name in ("safety_identifier", "user"):
        value = body.get(name)
        if value is not None:
            return _string(value, name)
    return None


# -- messages --------------------------------------------------------------------------------


def _parse_messages(messages: Any, provider: str) -> tuple[tuple[Turn, ...], tuple[str, ...]]:
    if not isinstance(messages, list):
        raise FlexError(
            "missing_messages", "`messages` must be a list of messages.", field="messages"
        )
    system: list[str] = []
    turns: list[Turn] = []
    call_names: dict[str, str] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(where, f"`{where}` must be an object with a `role`.")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(_text_only(content, f"{where}.content"))
        elif role == "user":
            turns.append(UserTurn(_user_parts(content, f"{where}.content", provider)))
        elif role == "assistant":
            turn = _assistant_turn(message, where, provider)
            call_names.update((call.id, call.name) for call in turn.calls)
            turns.append(turn)
        elif role == "tool":
            call_id = _string(message.get("tool_call_id"), f"{where}.tool_call_id")
            content_text = _text_only(content, f"{where}.content")
            turns.append(ToolTurn(call_id, call_names.get(call_id), content_text))
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
    if isinstance(content, list):
        texts: list[str] = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "refusal":
                continue  # an earlier refusal, shown to the user, is not model input
            else:
                raise invalid(
                    f"{where}[{j}]",
                    f"`{where}[{j}]` must be a text part; only user messages carry images.",
                )
        return "".join(texts)
    raise invalid(where, f"`{where}` must be a string or a list of content parts.")


def _user_parts(content: Any, where: str, provider: str) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (TextPart(content),)
    if not isinstance(content, list):
        raise invalid(where, f"`{where}` must be a string or a list of content parts.")
    parts: list[Part] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(part["text"]))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            parts.append(_image_part(url, f"{at}.image_url.url"))
        elif kind in ("input_audio", "file"):
            raise unsupported(
                at,
                f"`{kind}` content parts cannot be translated for a {provider} model; send "
                "text and images, or call the provider's own surface (/v1/messages for "
                "claude-*, /v1/interactions for gemini-*).",
            )
        else:
            raise invalid(at, f"`{at}.type` must be text or image_url.")
    return tuple(parts)


def _image_part(url: Any, where: str) -> ImagePart:
    if not isinstance(url, str):
        raise invalid(where, f"`{where}` must be an image URL or a base64 data URL.")
    if url.startswith("data:"):
        header, sep, data = url[len("data:") :].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type.startswith("image/"):
            raise invalid(
                where,
                f"`{where}` must be a base64 data URL such as data:image/png;base64,iVBOR...",
            )
        try:
            binascii.a2b_base64(data)
        except binascii.Error as exc:
            raise invalid(where, f"`{where}` holds invalid base64 data.") from exc
        return ImagePart(media_type=media_type, data=data)
    if url.startswith(("https://", "http://")):
        return ImagePart(url=url)
    raise invalid(where, f"`{where}` must be an http(s) URL or a base64 data URL.")


def _assistant_turn(message: dict[str, Any], where: str, provider: str) -> AssistantTurn:
    if message.get("function_call"):
        raise unsupported(
            f"{where}.function_call",
            "`function_call` on assistant messages is deprecated in the Chat API; "
            "send `tool_calls` instead.",
        )
    text = _text_only(message.get("content"), f"{where}.content")
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise invalid(f"{where}.tool_calls", f"`{where}.tool_calls` must be a list.")
    calls: list[CallRequest] = []
    for j, raw in enumerate(raw_calls):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(raw, dict) or raw.get("type", "function") != "function":
            raise unsupported(
                at, f"only function tool calls can be translated for a {provider} model."
            )
        function = raw.get("function")
        if not isinstance(function, dict):
            raise invalid(f"{at}.function", f"`{at}.function` must be an object.")
        calls.append(
            CallRequest(
                id=_string(raw.get("id"), f"{at}.id"),
                name=_string(function.get("name"), f"{at}.function.name"),
                arguments=parse_arguments(function.get("arguments"), f"{at}.function.arguments"),
            )
        )
    return AssistantTurn(text, tuple(calls))


def parse_arguments(arguments: Any, where: str) -> dict[str, Any]:
    """A tool call's JSON ``arguments`` string as an object (``""`` means no arguments)."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise invalid(where, f'`{where}` must be a JSON object in a string, e.g. "{{\\"x\\": 1}}".')


# -- tools -----------------------------------------------------------------------------------


def _parse_tools(tools: Any, provider: str) -> tuple[FunctionTool, ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise invalid("tools", "`tools` must be a list of function tools.")
    parsed: list[FunctionTool] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise unsupported(
                where,
                f"only `function` tools can be translated for a {provider} model; "
                'declare it as {"type": "function", "function": {...}}.',
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise invalid(f"{where}.function", f"`{where}.function` must be an object.")
        description = function.get("description")
        parameters = function.get("parameters")
        strict = function.get("strict")
        parsed.append(
            FunctionTool(
                name=_string(function.get("name"), f"{where}.function.name"),
                description=description if isinstance(description, str) else None,
                parameters=parameters if isinstance(parameters, dict) else None,
                strict=strict if isinstance(strict, bool) else None,
            )
        )
    return tuple(parsed)


def _parse_tool_choice(choice: Any) -> ToolChoice | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        mode: ToolChoiceMode = choice
        return ToolChoice(mode)
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            function = choice.get("function")
            name = function.get("name") if isinstance(function, dict) else None
            return ToolChoice("required", (_string(name, "tool_choice.function.name"),))
        if choice.get("type") == "allowed_tools":
            allowed = choice.get("allowed_tools")
            if isinstance(allowed, dict) and allowed.get("mode") in ("auto", "required"):
                names = tuple(
                    _string(_function_name(tool), f"tool_choice.allowed_tools.tools[{i}]")
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


# ------------------------------------------------------------------------------------------
# The Chat answer
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call in an answer: ``arguments`` is the JSON text the Chat API carries."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatUsage:
    """Chat token counts: ``cached``/``cache_write`` are parts of ``prompt_tokens`` and
    ``reasoning`` is part of ``completion_tokens`` (OpenAI's decomposition)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {
                "cached_tokens": self.cached_tokens,
                "cache_write_tokens": self.cache_write_tokens,
                "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def chat_service_tier(native_tier: Any) -> str | None:
    """The served tier in Chat's words: Anthropic's and Gemini's ``standard`` is ``default``."""
    if not isinstance(native_tier, str):
        return None
    return "default" if native_tier == "standard" else native_tier


def arguments_json(arguments: Any) -> str:
    """Native (already parsed) tool-call arguments as the Chat API's JSON text."""
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)


def completion_object(
    *,
    id: str,
    created: int,
    model: str,
    text: str,
    tool_calls: Iterable[ToolCall],
    finish_reason: FinishReason,
    usage: ChatUsage | None,
    service_tier: str | None,
) -> dict[str, Any]:
    """A ``chat.completion`` object with one choice."""
    calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in tool_calls
    ]
    message: dict[str, Any] = {
        "role": "assistant",
        # Chat sends null content for a turn that is only tool calls.
        "content": None if calls and not text else text,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage.to_dict() if usage is not None else None,
        "service_tier": service_tier,
        "system_fingerprint": None,
    }


def _frame(payload: dict[str, Any]) -> bytes:
    return format_event(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


DONE_FRAME = format_event("[DONE]")


def error_frame(message: str, *, code: str | None = None, type: str = "api_error") -> bytes:
    """An in-band stream error in OpenAI's shape (the ``openai`` SDK raises ``APIError``)."""
    return _frame({"error": {"message": message, "type": type, "param": None, "code": code}})


class ChatStreamBase:
    """The Chat half of a stream translator: one stable id/created/model, the role on the first
    delta, tool-call indexes, the finish chunk, the usage chunk and ``[DONE]``.

    A provider subclass reads native events in ``feed`` and calls the ``_`` helpers. The id is
    the native message/interaction id when the subclass knows it before the first chunk
    (``_set_id``), else a generated ``chatcmpl-`` id.
    """

    def __init__(self, *, model: str, include_usage: bool, created: int) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = created
        self._id: str | None = None
        self._service_tier: str | None = None
        self._usage: ChatUsage | None = None
        self._started = False
        self._tool_calls = 0
        self._closed = False  # the finish chunk went out
        self._failed = False  # an in-band error went out

    # -- helpers for subclasses ------------------------------------------------------------

    def _set_id(self, native_id: Any) -> None:
        if self._id is None and isinstance(native_id, str) and native_id:
            self._id = native_id

    def _set_service_tier(self, native_tier: Any) -> None:
        tier = chat_service_tier(native_tier)
        if tier is not None:
            self._service_tier = tier

    def _chunk(self, delta: dict[str, Any], finish_reason: FinishReason | None = None) -> bytes:
        if self._id is None:
            self._id = f"chatcmpl-{uuid.uuid4().hex}"
        payload: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "service_tier": self._service_tier,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self._include_usage:
            payload["usage"] = None  # as OpenAI does: null on every chunk but the last
        return _frame(payload)

    def _open(self, *, content: str | None = "") -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": content})]

    def _text(self, text: str) -> list[bytes]:
        if not text or self._closed or self._failed:
            return []
        return [*self._open(), self._chunk({"content": text})]

    def _tool_start(self, call_id: str, name: str) -> tuple[int, list[bytes]]:
        """Announce a new tool call; returns its Chat index and the frames."""
        index = self._tool_calls
        self._tool_calls += 1
        delta: dict[str, Any] = {
            "tool_calls": [
                {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
            ]
        }
        if self._started:
            return index, [self._chunk(delta)]
        # The first output is a tool call: role and call share the first delta, content null.
        self._started = True
        return index, [self._chunk({"role": "assistant", "content": None, **delta})]

    def _tool_arguments(self, index: int, fragment: str) -> list[bytes]:
        if not fragment or self._closed or self._failed:
            return []
        return [
            self._chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
        ]

    def _close(self, reason: FinishReason) -> list[bytes]:
        if self._closed or self._failed:
            return []
        frames = self._open()
        self._closed = True
        return [*frames, self._chunk({}, reason)]

    def _fail(self, message: str, *, code: str | None = None) -> list[bytes]:
        if self._failed:
            return []
        self._failed = True
        return [self.error_frame(message, code=code)]

    # -- the ChatStream protocol -----------------------------------------------------------

    def finish(self) -> list[bytes]:
        """The usage chunk (when asked for) and ``[DONE]``; an in-band error instead when the
        upstream ended before its terminal event, so a truncated answer never looks whole."""
        if self._failed:
            return []
        if not self._closed:
            return self._fail("the upstream stream ended before the answer was complete")
        frames: list[bytes] = []
        if self._include_usage:
            payload: dict[str, Any] = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "service_tier": self._service_tier,
                "system_fingerprint": None,
                "choices": [],
                "usage": (self._usage or ChatUsage()).to_dict(),
            }
            frames.append(_frame(payload))
        frames.append(DONE_FRAME)
        return frames

    def error_frame(self, message: str, *, code: str | None = None) -> bytes:
        return error_frame(message, code=code)
