"""Anthropic Messages, both ways: as a caller's surface (a coding agent configured with a base
URL, the ``anthropic`` SDK) reaching OpenAI and Gemini models, and as the API the router speaks
to Claude for every other caller surface.

Request: system instructions are the top-level ``system``; ``tool_result`` blocks sit in user
turns; consecutive turns of one role are merged (the API alternates roles). ``max_tokens`` is
required by Anthropic and has no server default: a request without one gets
``DEFAULT_MAX_TOKENS``. ``temperature`` above 1 is capped at 1 (Anthropic's range is 0..1).
Reasoning is ``thinking`` (a token budget) or ``output_config.effort``; structured output is
``output_config.format``.

Answers: Anthropic reports cache reads and writes outside ``input_tokens``; the intermediate
usage counts them inside ``input``, so both directions convert. Thinking of another provider
cannot be verified by Anthropic, so earlier reasoning reaches Claude only from Claude (that is
the native pair, which is not translated).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

from flexgrpc.domain import ROUTER_FIELDS
from flexgrpc.providers.presenting import CostView
from flexgrpc.providers.sse import SseEvent, json_event
from flexgrpc.providers.translate import call_ids, fields
from flexgrpc.providers.translate.chat import effort as read_effort
from flexgrpc.providers.translate.ir import (
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
    Reasoning,
    ReasoningControl,
    ReasoningDelta,
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

#: ``max_tokens`` for a request that sets none. Anthropic requires the field and documents no
#: default; 4096 fits every current Claude model.
DEFAULT_MAX_TOKENS = 4096

_TARGET = "Anthropic (claude-*)"

_MAPPED: Final = frozenset(
    {
        "model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k",
        "stop_sequences", "tools", "tool_choice", "thinking", "output_config", "metadata",
        "stream",
    }
)  # fmt: skip
#: Anthropic-side features with no equivalent elsewhere.
_REFUSED: Final = {
    "mcp_servers": "MCP servers are connected by Anthropic's API only",
    "container": "code-execution containers exist on Anthropic's API only",
    "context_management": "context editing is done by Anthropic's API only",
}

_STOP_REASONS: Final[Mapping[str, FinishReason]] = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "pause_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}
_STOP_REASON_OF: Final[Mapping[FinishReason, str]] = {
    FinishReason.STOP: "end_turn",
    FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use",
    FinishReason.CONTENT_FILTER: "refusal",
}
# The intermediate effort → output_config.effort (Anthropic has no "none"/"minimal" level).
_EFFORTS: Final[Mapping[Effort, str]] = {
    "none": "low", "minimal": "low", "low": "low", "medium": "medium", "high": "high",
    "xhigh": "xhigh", "max": "max",
}  # fmt: skip


# ==========================================================================================
# Caller side: a Messages request
# ==========================================================================================


def read_request(body: dict[str, Any], *, target: str) -> Request:
    for name, why in _REFUSED.items():
        if body.get(name):
            raise unsupported(name, f"`{name}` cannot reach a {target} model: {why}; remove it.")
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    tools, choice, parallel = _caller_tools(body, target)
    return Request(
        model=fields.string(body.get("model"), "model"),
        system=_system(body.get("system")),
        turns=_turns(body.get("messages"), target),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        max_tokens=fields.positive_int(body.get("max_tokens"), "max_tokens"),
        temperature=fields.optional_number(body.get("temperature"), "temperature"),
        top_p=fields.optional_number(body.get("top_p"), "top_p"),
        top_k=fields.optional_int(body.get("top_k"), "top_k"),
        stop=fields.strings(body.get("stop_sequences"), "stop_sequences", single=False),
        output=_output(body.get("output_config")),
        reasoning=_reasoning(body.get("thinking"), body.get("output_config")),
        end_user=fields.optional_string(user, "metadata.user_id"),
        passthrough={
            key: value
            for key, value in body.items()
            if key not in _MAPPED and key not in _REFUSED and key not in ROUTER_FIELDS
        },
    )


def _system(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    texts = []
    for i, block in enumerate(fields.objects(value, "system")):
        if block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid(f"system[{i}]", f"`system[{i}]` must be a text block.")
        texts.append(block["text"])
    return ("\n".join(texts),) if texts else ()


def _turns(messages: Any, target: str) -> tuple[Turn, ...]:
    if not isinstance(messages, list):
        raise invalid("messages", "`messages` must be a list of messages.")
    turns = []
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"{where}.role", f"`{where}.role` must be user or assistant.")
        role = message["role"]
        content = message.get("content")
        if isinstance(content, str):
            parts: tuple[Part, ...] = (Text(content),)
        else:
            blocks = fields.objects(content, f"{where}.content")
            parts = tuple(
                _part(block, f"{where}.content[{j}]", target, names)
                for j, block in enumerate(blocks)
            )
        turns.append(Turn(role, parts))
    return tuple(turns)


def _part(block: Mapping[str, Any], where: str, target: str, names: dict[str, str]) -> Part:
    kind = block.get("type")
    if kind == "text":
        return Text(fields.string(block.get("text"), f"{where}.text"))
    if kind in ("image", "document"):
        return _media(block, where, target)
    if kind == "tool_use":
        call_id, signature = call_ids.split(fields.string(block.get("id"), f"{where}.id"))
        name = fields.string(block.get("name"), f"{where}.name")
        names[call_id] = name
        arguments = fields.arguments(block.get("input"), f"{where}.input")
        return ToolCall(call_id, name, arguments, signature)
    if kind == "tool_result":
        call_id, _ = call_ids.split(fields.string(block.get("tool_use_id"), f"{where}.tool_use_id"))
        error = fields.optional_bool(block.get("is_error"), f"{where}.is_error")
        content = _result_text(block.get("content"), f"{where}.content", target)
        return ToolResult(call_id, content, names.get(call_id), bool(error))
    if kind == "thinking":
        return Reasoning(str(block.get("thinking") or ""), block.get("signature"))
    if kind == "redacted_thinking":
        return Reasoning("", None)  # encrypted for Claude: nothing another model can read
    raise unsupported(
        where,
        f"`{kind}` blocks cannot be translated for a {target} model; send text, images, "
        "documents, tool_use and tool_result blocks.",
    )


def _media(block: Mapping[str, Any], where: str, target: str) -> Media:
    kind: Literal["image", "document"] = "image" if block.get("type") == "image" else "document"
    source = block.get("source")
    source = source if isinstance(source, Mapping) else {}
    if source.get("type") == "base64":
        return Media(
            kind,
            media_type=fields.string(source.get("media_type"), f"{where}.source.media_type"),
            data=fields.string(source.get("data"), f"{where}.source.data"),
        )
    if source.get("type") == "url":
        return fields.media_url(source.get("url"), f"{where}.source.url", kind=kind)
    if source.get("type") == "text" and kind == "document":
        text = fields.string(source.get("data"), f"{where}.source.data")
        return Media("document", media_type="text/plain", data=_base64(text))
    raise unsupported(
        f"{where}.source",
        f"a {target} model takes {kind}s as base64 data or a URL; a `file_id` names a file "
        "on Anthropic's side only.",
    )


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _result_text(content: Any, where: str, target: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, block in enumerate(fields.objects(content, where)):
        if block.get("type") != "text":
            raise unsupported(
                f"{where}[{j}]", f"a tool result for a {target} model can only hold text."
            )
        texts.append(fields.string(block.get("text"), f"{where}[{j}].text"))
    return "".join(texts)


def _caller_tools(
    body: dict[str, Any], target: str
) -> tuple[tuple[Tool, ...], ToolChoice | None, bool | None]:
    tools = []
    for i, tool in enumerate(fields.objects(body.get("tools"), "tools")):
        if tool.get("type") not in (None, "custom"):
            raise unsupported(
                f"tools[{i}]",
                f"Anthropic's server tool `{tool.get('type')}` cannot run for a {target} model; "
                "declare client tools (name, description, input_schema).",
            )
        schema = tool.get("input_schema")
        tools.append(
            Tool(
                name=fields.string(tool.get("name"), f"tools[{i}].name"),
                description=tool.get("description")
                if isinstance(tool.get("description"), str)
                else None,
                parameters=schema if isinstance(schema, dict) else None,
                strict=tool.get("strict") if isinstance(tool.get("strict"), bool) else None,
            )
        )
    raw = body.get("tool_choice")
    if raw is None:
        return tuple(tools), None, None
    if not isinstance(raw, dict):
        raise invalid("tool_choice", '`tool_choice` must be an object, e.g. {"type": "auto"}.')
    parallel = False if raw.get("disable_parallel_tool_use") is True else None
    kind = raw.get("type")
    if kind in ("auto", "none"):
        return tuple(tools), ToolChoice(kind), parallel
    if kind == "any":
        return tuple(tools), ToolChoice("required"), parallel
    if kind == "tool":
        name = fields.string(raw.get("name"), "tool_choice.name")
        return tuple(tools), ToolChoice("required", (name,)), parallel
    raise invalid("tool_choice", '`tool_choice.type` must be "auto", "any", "tool" or "none".')


def _output(config: Any) -> JsonOutput | None:
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise invalid("output_config.format", '`output_config.format.type` must be "json_schema".')
    return JsonOutput(schema=fields.schema(fmt.get("schema"), "output_config.format.schema"))


def _reasoning(thinking: Any, config: Any) -> ReasoningControl | None:
    level = read_effort(
        config.get("effort") if isinstance(config, dict) else None, "output_config.effort"
    )
    budget = None
    shown = False
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = fields.positive_int(thinking.get("budget_tokens"), "thinking.budget_tokens")
        shown = True
    elif isinstance(thinking, dict) and thinking.get("type") == "adaptive":
        shown = True
    elif thinking is not None and not (
        isinstance(thinking, dict) and thinking.get("type") == "disabled"
    ):
        raise invalid("thinking", '`thinking.type` must be "enabled", "adaptive" or "disabled".')
    if level is None and budget is None and not shown:
        return None
    return ReasoningControl(effort=level, budget_tokens=budget, summary=shown)


# ==========================================================================================
# Caller side: Messages answers
# ==========================================================================================


def _usage_dict(usage: Usage, cost: CostView | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "input_tokens": usage.uncached_input,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cached,
        "output_tokens": usage.output,
    }
    if cost is not None:
        block["cost"] = cost
    return block


def answer_body(answer: Answer, *, model: str, created: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        content.append(
            {"type": "thinking", "thinking": answer.reasoning,
             "signature": answer.reasoning_signature or ""}
        )  # fmt: skip
    if answer.text:
        content.append({"type": "text", "text": answer.text})
    for call in answer.tool_calls:
        content.append(
            {
                "type": "tool_use",
                "id": call_ids.join(call.id, call.signature),
                "name": call.name,
                "input": fields.arguments(call.arguments, "arguments"),
            }
        )
    return {
        "id": answer.id if answer.id and answer.id.startswith("msg_") else _message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _STOP_REASON_OF[answer.finish],
        "stop_sequence": None,
        "usage": _usage_dict(answer.usage),
    }


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return json_event({"type": kind, **data}, kind)


def error_frame(message: str, *, code: str | None = None) -> bytes:
    return _event("error", {"error": {"type": "api_error", "message": message}})


class MessagesEncoder:
    """Intermediate events → Anthropic's stream: ``message_start``, one
    ``content_block_start``/``_delta``/``_stop`` cycle per block (thinking, text, each tool
    use), ``message_delta`` with the stop reason and the usage, ``message_stop``."""

    def __init__(self, *, model: str, created: int) -> None:
        self._model = model
        self._id: str | None = None
        self._started = False
        self._block = -1  # the index of the block open now (-1: none)
        self._kind = ""  # its type
        self._blocks_of_calls: dict[int, int] = {}
        self._done = False

    def frames(self, event: Event, cost: CostView | None) -> list[bytes]:
        if self._done:
            return []
        if isinstance(event, Started):
            self._id = self._id or event.id
            return []
        if isinstance(event, TextDelta):
            return [*self._switch("text"), self._delta({"type": "text_delta", "text": event.text})]
        if isinstance(event, ReasoningDelta):
            return self._reasoning(event)
        if isinstance(event, ToolCallStarted):
            block = {
                "type": "tool_use",
                "id": call_ids.join(event.id, event.signature),
                "name": event.name,
                "input": {},
            }
            frames = self._switch("tool_use", block)
            self._blocks_of_calls[event.index] = self._block
            return frames
        if isinstance(event, ToolArgumentsDelta):
            index = self._blocks_of_calls.get(event.index, self._block)
            delta = {"type": "input_json_delta", "partial_json": event.fragment}
            return [
                *self._opening(),
                _event("content_block_delta", {"index": index, "delta": delta}),
            ]
        if isinstance(event, Finished):
            self._done = True
            frames = [*self._opening(), *self._close()]
            stop: dict[str, Any] = {
                "stop_reason": _STOP_REASON_OF[event.reason],
                "stop_sequence": None,
            }
            frames.append(
                _event("message_delta", {"delta": stop, "usage": _usage_dict(event.usage, cost)})
            )
            frames.append(_event("message_stop", {}))
            return frames
        self._done = True
        return [error_frame(event.message, code=event.code)]

    def end(self, cost: CostView | None) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [error_frame("the upstream stream ended before the answer was complete")]

    def error_frame(self, code: str, message: str) -> bytes:
        return error_frame(message, code=code)

    def _opening(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self._id if self._id and self._id.startswith("msg_") else _message_id(),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [_event("message_start", {"message": message})]

    def _close(self) -> list[bytes]:
        if self._block < 0 or not self._kind:
            return []
        self._kind = ""
        return [_event("content_block_stop", {"index": self._block})]

    def _switch(self, kind: str, block: dict[str, Any] | None = None) -> list[bytes]:
        if self._kind == kind and block is None:
            return []
        frames = [*self._opening(), *self._close()]
        self._block += 1
        self._kind = kind
        start = block or ({"type": "text", "text": ""} if kind == "text" else
                          {"type": "thinking", "thinking": "", "signature": ""})  # fmt: skip
        frames.append(_event("content_block_start", {"index": self._block, "content_block": start}))
        return frames

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _event("content_block_delta", {"index": self._block, "delta": delta})

    def _reasoning(self, event: ReasoningDelta) -> list[bytes]:
        frames = self._switch("thinking")
        if event.text:
            frames.append(self._delta({"type": "thinking_delta", "thinking": event.text}))
        if event.signature:
            frames.append(self._delta({"type": "signature_delta", "signature": event.signature}))
        return frames


_FIELDS: Final[Mapping[Feature, str]] = {
    Feature.JSON_WITHOUT_SCHEMA: "output_config.format",
    Feature.TOP_K: "top_k",
    Feature.DOCUMENT: "messages",
    Feature.IMAGE: "messages",
    Feature.TOOL_CHOICE: "tool_choice",
}


class MessagesCaller:
    """Anthropic Messages as a caller's surface (a ``CallerFormat``)."""

    name = "Anthropic Messages"

    def field_of(self, feature: Feature) -> str:
        return _FIELDS[feature]

    def read_request(self, body: dict[str, Any], *, target: str) -> Request:
        return read_request(body, target=target)

    def encoder(self, *, model: str, body: dict[str, Any], created: int) -> MessagesEncoder:
        return MessagesEncoder(model=model, created=created)

    def answer_body(self, answer: Answer, *, model: str, created: int) -> dict[str, Any]:
        return answer_body(answer, model=model, created=created)


# ==========================================================================================
# Upstream side: the Messages API for Claude
# ==========================================================================================


def write_request(request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    if request.system_text is not None:
        body["system"] = request.system_text
    body["messages"] = _native_messages(request.turns)
    if request.temperature is not None:
        body["temperature"] = min(request.temperature, 1.0)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.top_k is not None:
        body["top_k"] = request.top_k
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    _add_tools(body, request)
    _add_output_config(body, request)
    if request.end_user is not None:
        body["metadata"] = {"user_id": request.end_user}
    # `seed` and `store` are dropped: Anthropic has neither, and the answer does not depend on
    # them (OpenAI itself only tries to honour a seed).
    for key, value in request.passthrough.items():
        body.setdefault(key, value)
    return body


def _add_output_config(body: dict[str, Any], request: Request) -> None:
    config: dict[str, Any] = {}
    if request.reasoning is not None:
        budget = request.reasoning.budget_tokens
        if budget is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if request.reasoning.effort is not None:
            config["effort"] = _EFFORTS[request.reasoning.effort]
    if request.output is not None:
        if request.output.schema is None:
            raise Inexpressible(
                Feature.JSON_WITHOUT_SCHEMA,
                "Anthropic has no schemaless JSON mode; ask for JSON with a JSON Schema",
            )
        config["format"] = {"type": "json_schema", "schema": dict(request.output.schema)}
    if config:
        body["output_config"] = config


def _native_messages(turns: tuple[Turn, ...]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in turns:
        blocks = [block for part in turn.parts if (block := _native_block(part)) is not None]
        if not blocks:
            continue
        if messages and messages[-1]["role"] == turn.role:
            messages[-1]["content"].extend(blocks)  # the Messages API alternates roles
        else:
            messages.append({"role": turn.role, "content": blocks})
    return messages


def _native_block(part: Part) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, Media):
        kind = part.kind
        if part.url is not None:
            return {"type": kind, "source": {"type": "url", "url": part.url}}
        return {
            "type": kind,
            "source": {"type": "base64", "media_type": part.media_type, "data": part.data},
        }
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": dict(part.arguments)}
    if isinstance(part, ToolResult):
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": part.call_id,
            "content": part.content,
        }
        if part.is_error:
            block["is_error"] = True
        return block
    return None  # another provider's reasoning: Claude cannot verify it


def _add_tools(body: dict[str, Any], request: Request) -> None:
    tools = list(request.tools)
    choice: dict[str, Any] | None = None
    if request.tool_choice is not None:
        mode, names = request.tool_choice.mode, request.tool_choice.names
        if mode == "none":
            choice = {"type": "none"}
        elif mode == "required" and len(names) == 1:
            choice = {"type": "tool", "name": names[0]}
        else:
            # Anthropic cannot narrow the choice: declare only the tools allowed.
            if names:
                tools = [tool for tool in tools if tool.name in names]
            choice = {"type": "any" if mode == "required" else "auto"}
    if request.parallel_tool_calls is False and tools and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if tools:
        body["tools"] = [_native_tool(tool) for tool in tools]
    if choice is not None:
        body["tool_choice"] = choice


def _native_tool(tool: Tool) -> dict[str, Any]:
    native: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        native["description"] = tool.description
    native["input_schema"] = dict(tool.parameters or {"type": "object", "properties": {}})
    if tool.strict is not None:
        native["strict"] = tool.strict
    return native


def usage_of(block: Mapping[str, Any]) -> Usage:
    """Anthropic's usage in the intermediate decomposition (cache reads and writes join the
    input; thinking is part of the output, when the API breaks it out)."""

    def count(name: str, inner: Mapping[str, Any] = block) -> int:
        value = inner.get(name)
        return value if isinstance(value, int) else 0

    details = block.get("output_tokens_details")
    read, write = count("cache_read_input_tokens"), count("cache_creation_input_tokens")
    return Usage(
        input=count("input_tokens") + read + write,
        output=count("output_tokens"),
        cached=read,
        cache_write=write,
        reasoning=count("thinking_tokens", details) if isinstance(details, Mapping) else 0,
    )


def _finish_of(stop_reason: Any, has_calls: bool) -> FinishReason:
    if isinstance(stop_reason, str) and stop_reason in _STOP_REASONS:
        return _STOP_REASONS[stop_reason]
    return FinishReason.TOOL_CALLS if has_calls else FinishReason.STOP


class MessagesDecoder:
    """Anthropic's stream (``message_start`` … ``message_stop``) → intermediate events."""

    def __init__(self) -> None:
        self._calls: dict[int, int] = {}  # block index → tool call index
        self._usage: dict[str, Any] = {}
        self._stop_reason: Any = None

    def feed(self, event: SseEvent) -> list[Event]:
        try:
            data = event.json()
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or event.event
        if kind == "message_start":
            message = data.get("message") or {}
            self._take_usage(message.get("usage"))
            return [Started(message.get("id"), message.get("model"))]
        if kind == "content_block_start":
            return self._block_start(data.get("index"), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(data.get("index"), data.get("delta") or {})
        if kind == "message_delta":
            self._stop_reason = (data.get("delta") or {}).get("stop_reason") or self._stop_reason
            self._take_usage(data.get("usage"))
            return []
        if kind == "message_stop":
            reason = _finish_of(self._stop_reason, bool(self._calls))
            tier = self._usage.get("service_tier")
            return [
                Finished(reason, usage_of(self._usage), tier if isinstance(tier, str) else None)
            ]
        if kind == "error":
            error = data.get("error") or {}
            return [Failed(str(error.get("message") or "the upstream failed mid-answer"),
                           error.get("type"))]  # fmt: skip
        return []  # ping, content_block_stop, and events a newer API version may add

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            # message_delta counts are cumulative; a null there keeps message_start's value.
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _block_start(self, index: Any, block: dict[str, Any]) -> list[Event]:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text") or ""
            return [TextDelta(text)] if text else []
        if kind == "thinking":
            return [ReasoningDelta(block.get("thinking") or "", block.get("signature") or None)]
        if kind == "tool_use" and isinstance(index, int):
            call = len(self._calls)
            self._calls[index] = call
            events: list[Event] = [
                ToolCallStarted(call, block.get("id") or "", block.get("name") or "")
            ]
            if block.get("input"):
                events.append(ToolArgumentsDelta(call, fields.arguments_json(block["input"])))
            return events
        return []

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[Event]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(delta.get("text") or "")]
        if kind == "thinking_delta":
            return [ReasoningDelta(delta.get("thinking") or "")]
        if kind == "signature_delta":
            return [ReasoningDelta("", delta.get("signature") or None)]
        if kind == "input_json_delta" and index in self._calls:
            return [ToolArgumentsDelta(self._calls[index], delta.get("partial_json") or "")]
        return []


def read_answer(native: dict[str, Any]) -> Answer:
    blocks = [block for block in native.get("content") or [] if isinstance(block, dict)]
    calls = tuple(
        AnswerToolCall(str(b.get("id") or ""), str(b.get("name") or ""),
                       fields.arguments_json(b.get("input")))
        for b in blocks
        if b.get("type") == "tool_use"
    )  # fmt: skip
    thinking = [b for b in blocks if b.get("type") == "thinking"]
    raw_usage = native.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    tier = usage.get("service_tier")
    return Answer(
        id=native.get("id"),
        model=native.get("model"),
        text="".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text"),
        tool_calls=calls,
        finish=_finish_of(native.get("stop_reason"), bool(calls)),
        usage=usage_of(usage),
        reasoning="".join(str(b.get("thinking") or "") for b in thinking),
        reasoning_signature=next(
            (b.get("signature") for b in thinking if b.get("signature")), None
        ),
        service_tier=tier if isinstance(tier, str) else None,
    )


class MessagesUpstream:
    """The Messages API as the router speaks it to Claude (an ``UpstreamFormat``)."""

    target = _TARGET

    def write_request(self, request: Request) -> dict[str, Any]:
        return write_request(request)

    def decoder(self) -> MessagesDecoder:
        return MessagesDecoder()

    def read_answer(self, native: dict[str, Any]) -> Answer:
        return read_answer(native)
