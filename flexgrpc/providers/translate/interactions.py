"""Gemini Interactions (``/v1beta/interactions``, steps schema), both ways: as a caller's surface
reaching OpenAI and Anthropic models, and as the API the router speaks to Gemini models for the
other caller surfaces.

The body follows the Interactions API as of revision ``GEMINI_API_REVISION`` (the provider
adapter sends it as the ``Api-Revision`` header): the conversation goes in ``input`` as a list of
steps — ``user_input`` and ``model_output`` (each with ``content`` parts), ``thought``
(``signature``), ``function_call`` (``id``, ``name``, ``arguments`` object) and
``function_result`` (``call_id``, ``name``, ``result``); ``system_instruction`` is a string;
tools are ``{"type": "function", name, description, parameters}``; sampling, limits, thinking
and ``tool_choice`` live in ``generation_config``; JSON output is ``response_format``. Callers
that keep no server-side state get ``store: false`` unless they ask for it.

An answer is an interaction with ``status``, its output ``steps`` (thought, model_output,
function_call), ``usage`` (``total_input_tokens`` including cached, ``total_output_tokens``
*excluding* ``total_thought_tokens``, ``total_tool_use_tokens``) and the served
``service_tier``. A stream is ``interaction.created``, ``interaction.status_update``, then per
step ``step.start`` / ``step.delta`` (``text``, ``arguments_delta``, ``thought_signature``,
``thought_summary``) / ``step.stop``, ``interaction.completed`` and ``[DONE]``.

Gemini 3 rejects a function-calling history without the signature of the thought that preceded
each call; the signature travels with the call (``ir.ToolCall.signature``), so a caller surface
that has no field for it carries it in the call id (``call_ids``).
"""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

from flexgrpc.domain import ROUTER_FIELDS
from flexgrpc.providers.presenting import CostView
from flexgrpc.providers.sse import SseEvent, format_event, json_event
from flexgrpc.providers.translate import fields
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

#: The Interactions API revision these shapes follow (the ``Api-Revision`` request header).
GEMINI_API_REVISION = "2026-05-20"

_TARGET = "Gemini (gemini-*)"

# The intermediate effort → generation_config.thinking_level (Gemini's floor is "minimal").
_THINKING_LEVELS: Final[Mapping[Effort, str]] = {
    "none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
    "xhigh": "xhigh", "max": "xhigh",
}  # fmt: skip
_EFFORT_OF_LEVEL: Final[Mapping[str, Effort]] = {
    "minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh",
}  # fmt: skip
_MODES: Final = {"auto": "auto", "none": "none", "required": "any"}
_LENGTH_STATUSES: Final = frozenset({"incomplete", "budget_exceeded"})
_FAILED_STATUSES: Final = frozenset({"failed", "cancelled"})

_MAPPED: Final = frozenset(
    {"model", "input", "system_instruction", "tools", "generation_config", "response_format",
     "store", "stream"}
)  # fmt: skip
_REFUSED: Final = {
    "previous_interaction_id": "the conversation it names is kept on Google's side",
    "agent": "agents run on Google's side",
    "background": "background interactions run on Google's side",
}


# ==========================================================================================
# Caller side: an Interactions request
# ==========================================================================================


def read_request(body: dict[str, Any], *, target: str) -> Request:
    for name, why in _REFUSED.items():
        if body.get(name):
            raise unsupported(name, f"`{name}` cannot reach a {target} model: {why}; remove it.")
    config = body.get("generation_config")
    config = config if isinstance(config, Mapping) else {}
    system = fields.optional_string(body.get("system_instruction"), "system_instruction")
    return Request(
        model=fields.string(body.get("model"), "model"),
        system=(system,) if system else (),
        turns=_turns(body.get("input"), target),
        tools=_caller_tools(body.get("tools"), target),
        tool_choice=_caller_choice(config.get("tool_choice")),
        max_tokens=fields.positive_int(
            config.get("max_output_tokens"), "generation_config.max_output_tokens"
        ),
        temperature=fields.optional_number(
            config.get("temperature"), "generation_config.temperature"
        ),
        top_p=fields.optional_number(config.get("top_p"), "generation_config.top_p"),
        stop=fields.strings(
            config.get("stop_sequences"), "generation_config.stop_sequences", single=False
        ),
        seed=fields.optional_int(config.get("seed"), "generation_config.seed"),
        output=_caller_output(body.get("response_format")),
        reasoning=_caller_reasoning(config),
        store=fields.optional_bool(body.get("store"), "store"),
        passthrough={
            key: value
            for key, value in body.items()
            if key not in _MAPPED and key not in _REFUSED and key not in ROUTER_FIELDS
        },
    )


def _turns(value: Any, target: str) -> tuple[Turn, ...]:
    if isinstance(value, str):
        return (Turn("user", (Text(value),)),)
    items = fields.objects(value, "input")
    if items and all(item.get("type") in _CONTENT_TYPES for item in items):
        return (
            Turn(
                "user", tuple(_content(item, f"input[{i}]", target) for i, item in enumerate(items))
            ),
        )
    turns: list[Turn] = []
    names: dict[str, str] = {}
    signature: str | None = None
    for i, step in enumerate(items):
        where = f"input[{i}]"
        kind = step.get("type")
        if kind in ("user_input", "model_output"):
            role: Literal["user", "assistant"] = "user" if kind == "user_input" else "assistant"
            parts = tuple(
                _content(part, f"{where}.content[{j}]", target)
                for j, part in enumerate(fields.objects(step.get("content"), f"{where}.content"))
            )
            turns.append(Turn(role, parts))
        elif kind == "thought":
            signature = step.get("signature") if isinstance(step.get("signature"), str) else None
            summary = "".join(_summary_texts(step.get("summary")))
            turns.append(Turn("assistant", (Reasoning(summary, signature),)))
        elif kind == "function_call":
            call_id = fields.string(step.get("id"), f"{where}.id")
            name = fields.string(step.get("name"), f"{where}.name")
            names[call_id] = name
            arguments = fields.arguments(step.get("arguments"), f"{where}.arguments")
            turns.append(Turn("assistant", (ToolCall(call_id, name, arguments, signature),)))
            signature = None  # a thought's signature travels with the first call after it
        elif kind == "function_result":
            call_id = fields.string(step.get("call_id"), f"{where}.call_id")
            result = step.get("result")
            text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            turns.append(
                Turn("user", (ToolResult(call_id, text, step.get("name") or names.get(call_id)),))
            )
        else:
            raise invalid(
                f"{where}.type",
                f"`{where}.type` must be user_input, model_output, thought, function_call or "
                "function_result.",
            )
    return tuple(turns)


_CONTENT_TYPES: Final = frozenset({"text", "image", "document", "audio", "video"})


def _content(part: Mapping[str, Any], where: str, target: str) -> Part:
    kind = part.get("type")
    if kind == "text":
        return Text(fields.string(part.get("text"), f"{where}.text"))
    if kind in ("image", "document"):
        media: Literal["image", "document"] = "image" if kind == "image" else "document"
        mime = fields.optional_string(part.get("mime_type"), f"{where}.mime_type")
        if isinstance(part.get("data"), str):
            return Media(media, media_type=mime, data=part["data"])
        if isinstance(part.get("uri"), str) and part["uri"].startswith(("https://", "http://")):
            return Media(media, media_type=mime, url=part["uri"])
        raise unsupported(
            where,
            f"a {target} model takes {kind}s as base64 `data` or an http(s) `uri`; a Files "
            "API uri names a file on Google's side only.",
        )
    raise unsupported(where, f"`{kind}` content cannot be translated for a {target} model.")


def _summary_texts(summary: Any) -> list[str]:
    texts = []
    for item in summary if isinstance(summary, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("text"), str):
            texts.append(item["text"])
        elif isinstance(item, str):
            texts.append(item)
    return texts


def _caller_tools(tools: Any, target: str) -> tuple[Tool, ...]:
    found = []
    for i, tool in enumerate(fields.objects(tools, "tools")):
        if tool.get("type") != "function":
            raise unsupported(
                f"tools[{i}]",
                f"Gemini's built-in tool `{tool.get('type')}` cannot run for a {target} model; "
                "declare function tools.",
            )
        description, parameters = tool.get("description"), tool.get("parameters")
        found.append(
            Tool(
                name=fields.string(tool.get("name"), f"tools[{i}].name"),
                description=description if isinstance(description, str) else None,
                parameters=parameters if isinstance(parameters, dict) else None,
            )
        )
    return tuple(found)


def _caller_choice(choice: Any) -> ToolChoice | None:
    where = "generation_config.tool_choice"
    modes = {"auto": "auto", "none": "none", "any": "required", "validated": "auto"}
    if choice is None:
        return None
    if isinstance(choice, str) and choice in modes:
        return ToolChoice(modes[choice])  # type: ignore[arg-type]
    allowed = choice.get("allowed_tools") if isinstance(choice, Mapping) else None
    if isinstance(allowed, Mapping) and allowed.get("mode", "auto") in modes:
        names = fields.strings(allowed.get("tools"), f"{where}.allowed_tools.tools", single=False)
        return ToolChoice(modes[allowed.get("mode", "auto")], names)  # type: ignore[arg-type]
    raise invalid(where, f'`{where}` must be "auto", "any", "none" or {{"allowed_tools": ...}}.')


def _caller_output(value: Any) -> JsonOutput | None:
    for fmt in value if isinstance(value, list) else [value]:
        if isinstance(fmt, Mapping) and fmt.get("mime_type") == "application/json":
            schema = fmt.get("schema")
            return JsonOutput(schema=schema if isinstance(schema, Mapping) else None)
    return None


def _caller_reasoning(config: Mapping[str, Any]) -> ReasoningControl | None:
    level = config.get("thinking_level")
    summaries = config.get("thinking_summaries")
    if level is None and summaries is None:
        return None
    if level is not None and level not in _EFFORT_OF_LEVEL:
        raise invalid(
            "generation_config.thinking_level",
            "`generation_config.thinking_level` must be minimal, low, medium, high or xhigh.",
        )
    return ReasoningControl(
        effort=_EFFORT_OF_LEVEL[level] if level is not None else None,
        summary=summaries not in (None, "none"),
    )


# ==========================================================================================
# Caller side: Interactions answers
# ==========================================================================================


def _gemini_tier(tier: str | None) -> str | None:
    """The served tier in Gemini's words (OpenAI's standard tier is ``default``)."""
    return "standard" if tier == "default" else tier


def _usage_dict(usage: Usage, cost: CostView | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "total_tokens": usage.input + usage.output,
        "total_input_tokens": usage.input,
        "total_cached_tokens": usage.cached,
        "total_output_tokens": usage.output - usage.reasoning,
        "total_thought_tokens": usage.reasoning,
        "total_tool_use_tokens": 0,
    }
    if cost is not None:
        block["cost"] = cost
    return block


def _status(reason: FinishReason) -> str:
    if reason is FinishReason.TOOL_CALLS:
        return "requires_action"
    return "incomplete" if reason is FinishReason.LENGTH else "completed"


def _stamp(created: int) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _interaction_id(native: str | None) -> str:
    return native if native and native.startswith("v1_") else f"v1_{uuid.uuid4().hex}"


def answer_body(answer: Answer, *, model: str, created: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    if answer.reasoning or answer.reasoning_signature:
        thought: dict[str, Any] = {"type": "thought"}
        if answer.reasoning_signature:
            thought["signature"] = answer.reasoning_signature
        if answer.reasoning:
            thought["summary"] = [{"type": "text", "text": answer.reasoning}]
        steps.append(thought)
    if answer.text:
        steps.append({"type": "model_output", "content": [{"type": "text", "text": answer.text}]})
    for call in answer.tool_calls:
        if call.signature:
            steps.append({"type": "thought", "signature": call.signature})
        steps.append(
            {"type": "function_call", "id": call.id, "name": call.name,
             "arguments": dict(fields.arguments(call.arguments, "arguments"))}
        )  # fmt: skip
    return {
        "id": _interaction_id(answer.id),
        "status": _status(answer.finish),
        "usage": _usage_dict(answer.usage),
        "created": _stamp(created),
        "updated": _stamp(created),
        "service_tier": _gemini_tier(answer.service_tier),
        "object": "interaction",
        "model": model,
        "steps": steps,
    }


def _event(kind: str, **data: Any) -> bytes:
    payload = {**data, "event_type": kind}
    return json_event(payload, kind)


def error_frame(message: str, *, code: str | None = None) -> bytes:
    return _event("error", error={"code": code or "internal", "message": message})


class InteractionsEncoder:
    """Intermediate events → an Interactions stream (steps schema)."""

    def __init__(self, *, model: str, created: int) -> None:
        self._model = model
        self._created = created
        self._id: str | None = None
        self._started = False
        self._step = -1
        self._kind = ""
        self._steps_of_calls: dict[int, int] = {}
        self._done = False

    def frames(self, event: Event, cost: CostView | None) -> list[bytes]:
        if self._done:
            return []
        if isinstance(event, Started):
            self._id = self._id or event.id
            return []
        if isinstance(event, TextDelta):
            return [*self._switch("model_output"),
                    self._delta({"type": "text", "text": event.text})]  # fmt: skip
        if isinstance(event, ReasoningDelta):
            frames = self._switch("thought")
            if event.text:
                summary = {
                    "type": "thought_summary",
                    "content": {"type": "text", "text": event.text},
                }
                frames.append(self._delta(summary))
            if event.signature:
                frames.append(self._signed(event.signature))
            return frames
        if isinstance(event, ToolCallStarted):
            frames = []
            if event.signature:
                frames += self._switch("thought")
                frames.append(self._signed(event.signature))
            step = {"type": "function_call", "id": event.id, "name": event.name, "arguments": {}}
            frames += self._switch("function_call", step)
            self._steps_of_calls[event.index] = self._step
            return frames
        if isinstance(event, ToolArgumentsDelta):
            index = self._steps_of_calls.get(event.index, self._step)
            delta = {"type": "arguments_delta", "arguments": event.fragment}
            return [*self._opening(), _event("step.delta", index=index, delta=delta)]
        if isinstance(event, Finished):
            self._done = True
            interaction = {
                "id": self._interaction_id(),
                "status": _status(event.reason),
                "usage": _usage_dict(event.usage, cost),
                "created": _stamp(self._created),
                "updated": _stamp(self._created),
                "service_tier": _gemini_tier(event.service_tier),
                "object": "interaction",
                "model": self._model,
            }
            return [
                *self._opening(),
                *self._close(),
                _event("interaction.completed", interaction=interaction),
                format_event("[DONE]", "done"),
            ]
        self._done = True
        return [error_frame(event.message, code=event.code)]

    def end(self, cost: CostView | None) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [error_frame("the upstream stream ended before the answer was complete")]

    def error_frame(self, code: str, message: str) -> bytes:
        return error_frame(message, code=code)

    def _interaction_id(self) -> str:
        self._id = _interaction_id(self._id)
        return self._id

    def _opening(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        interaction_id = self._interaction_id()
        created = {"id": interaction_id, "status": "in_progress", "object": "interaction",
                   "model": self._model}  # fmt: skip
        return [
            _event("interaction.created", interaction=created),
            _event(
                "interaction.status_update", interaction_id=interaction_id, status="in_progress"
            ),
        ]

    def _close(self) -> list[bytes]:
        if not self._kind:
            return []
        self._kind = ""
        return [_event("step.stop", index=self._step)]

    def _switch(self, kind: str, step: dict[str, Any] | None = None) -> list[bytes]:
        if self._kind == kind and step is None:
            return []
        frames = [*self._opening(), *self._close()]
        self._step += 1
        self._kind = kind
        frames.append(_event("step.start", index=self._step, step=step or {"type": kind}))
        return frames

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _event("step.delta", index=self._step, delta=delta)

    def _signed(self, signature: str) -> bytes:
        return self._delta({"type": "thought_signature", "signature": signature})


_FIELDS: Final[Mapping[Feature, str]] = {
    Feature.JSON_WITHOUT_SCHEMA: "response_format",
    Feature.TOP_K: "generation_config",
    Feature.DOCUMENT: "input",
    Feature.IMAGE: "input",
    Feature.TOOL_CHOICE: "generation_config.tool_choice",
}


class InteractionsCaller:
    """Gemini Interactions as a caller's surface (a ``CallerFormat``)."""

    name = "Gemini Interactions"

    def field_of(self, feature: Feature) -> str:
        return _FIELDS[feature]

    def read_request(self, body: dict[str, Any], *, target: str) -> Request:
        return read_request(body, target=target)

    def encoder(self, *, model: str, body: dict[str, Any], created: int) -> InteractionsEncoder:
        return InteractionsEncoder(model=model, created=created)

    def answer_body(self, answer: Answer, *, model: str, created: int) -> dict[str, Any]:
        return answer_body(answer, model=model, created=created)


# ==========================================================================================
# Upstream side: the Interactions API for Gemini models
# ==========================================================================================


def write_request(request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "input": _steps(request.turns)}
    if request.system_text is not None:
        body["system_instruction"] = request.system_text
    if request.tools:
        body["tools"] = [_native_tool(tool) for tool in request.tools]
    config = _generation_config(request)
    if config:
        body["generation_config"] = config
    if request.output is not None:
        text_format: dict[str, Any] = {"type": "text", "mime_type": "application/json"}
        if request.output.schema is not None:
            text_format["schema"] = dict(request.output.schema)
        body["response_format"] = text_format
    body["store"] = bool(request.store)
    # Dropped: `parallel_tool_calls` (Gemini decides; callers take any number of calls) and
    # the end user (Gemini has no end-user field).
    for key, value in request.passthrough.items():
        body.setdefault(key, value)
    return body


def _steps(turns: tuple[Turn, ...]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for turn in turns:
        kind = "user_input" if turn.role == "user" else "model_output"
        content: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, Text | Media):
                content.append(_native_content(part))
                continue
            if content:
                steps.append({"type": kind, "content": content})
                content = []
            steps += _native_steps(part)
        if content:
            steps.append({"type": kind, "content": content})
    return steps


def _native_steps(part: ToolCall | ToolResult | Reasoning) -> list[dict[str, Any]]:
    if isinstance(part, ToolCall):
        thought = [{"type": "thought", "signature": part.signature}] if part.signature else []
        call = {"type": "function_call", "id": part.id, "name": part.name,
                "arguments": dict(part.arguments)}  # fmt: skip
        return [*thought, call]
    if isinstance(part, ToolResult):
        result: dict[str, Any] = {"type": "function_result", "call_id": part.call_id}
        if part.name is not None:
            result["name"] = part.name
        result["result"] = part.content
        return [result]
    # Earlier reasoning: only Gemini's own (signed) thoughts mean anything to Gemini.
    return [{"type": "thought", "signature": part.signature}] if part.signature else []


def _native_content(part: Text | Media) -> dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if part.url is None:
        return {"type": part.kind, "data": part.data, "mime_type": part.media_type}
    native: dict[str, Any] = {"type": part.kind, "uri": part.url}
    guessed = part.media_type or mimetypes.guess_type(part.url.split("?", 1)[0])[0]
    if guessed is not None:
        native["mime_type"] = guessed
    return native


def _native_tool(tool: Tool) -> dict[str, Any]:
    # `strict` is dropped: Gemini always decodes function arguments against the schema.
    native: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description is not None:
        native["description"] = tool.description
    if tool.parameters is not None:
        native["parameters"] = dict(tool.parameters)
    return native


def _generation_config(request: Request) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.top_k is not None:
        raise Inexpressible(
            Feature.TOP_K,
            "Gemini's Interactions API has no top_k: remove it (generateContent has topK)",
        )
    for name, value in (
        ("max_output_tokens", request.max_tokens),
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("stop_sequences", list(request.stop) or None),
        ("seed", request.seed),
    ):
        if value is not None:
            config[name] = value
    if request.reasoning is not None:
        config["thinking_level"] = _thinking_level(request.reasoning)
        if request.reasoning.summary:
            config["thinking_summaries"] = "auto"
    if request.tool_choice is not None:
        mode = _MODES[request.tool_choice.mode]
        if request.tool_choice.names and mode != "none":
            config["tool_choice"] = {
                "allowed_tools": {"mode": mode, "tools": list(request.tool_choice.names)}
            }
        else:
            config["tool_choice"] = mode
    return config


def _thinking_level(control: ReasoningControl) -> str:
    if control.effort is not None:
        return _THINKING_LEVELS[control.effort]
    budget = control.budget_tokens
    if budget is None:
        return "medium"
    return "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"


def usage_of(block: Mapping[str, Any]) -> Usage:
    """Gemini's usage in the intermediate decomposition: thoughts are reported beside the
    output (not inside it) and tool-use prompt tokens beside the input, so they are added in."""

    def count(name: str) -> int:
        value = block.get(name)
        return value if isinstance(value, int) else 0

    thoughts = count("total_thought_tokens")
    return Usage(
        input=count("total_input_tokens") + count("total_tool_use_tokens"),
        output=count("total_output_tokens") + thoughts,
        cached=count("total_cached_tokens"),
        reasoning=thoughts,
    )


def _finish_of(status: Any, has_calls: bool) -> FinishReason:
    if has_calls:
        return FinishReason.TOOL_CALLS
    return FinishReason.LENGTH if status in _LENGTH_STATUSES else FinishReason.STOP


class InteractionsDecoder:
    """Interactions stream events (steps schema) → intermediate events."""

    def __init__(self) -> None:
        self._step_types: dict[int, str] = {}
        self._calls: dict[int, int] = {}  # step index → tool call index
        self._whole: set[int] = set()  # calls whose start already held all their arguments
        self._signature: str | None = None
        self._usage: dict[str, Any] = {}
        self._tier: str | None = None

    def feed(self, event: SseEvent) -> list[Event]:
        try:
            data = event.json()
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        kind = data.get("event_type") or event.event
        if kind == "interaction.created":
            interaction = data.get("interaction") or {}
            self._take(interaction)
            return [Started(interaction.get("id"), interaction.get("model"))]
        if kind in ("interaction.status_update", "step.stop"):
            self._take_usage(data.get("usage"))
            return []
        if kind == "step.start":
            return self._step_start(data.get("index"), data.get("step") or {})
        if kind == "step.delta":
            return self._step_delta(data.get("index"), data.get("delta") or {})
        if kind == "interaction.completed":
            interaction = data.get("interaction") or {}
            self._take(interaction)
            status = interaction.get("status")
            if status in _FAILED_STATUSES:
                return [Failed(f"the upstream interaction ended with status {status!r}")]
            reason = _finish_of(status, bool(self._calls))
            return [Finished(reason, usage_of(self._usage), self._tier)]
        if kind == "error":
            error = data.get("error") or {}
            code = error.get("code")
            return [Failed(str(error.get("message") or "the upstream failed mid-answer"),
                           code if isinstance(code, str) else None)]  # fmt: skip
        return []

    def _take(self, interaction: Any) -> None:
        if isinstance(interaction, dict):
            if isinstance(interaction.get("service_tier"), str):
                self._tier = interaction["service_tier"]
            self._take_usage(interaction.get("usage"))

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _step_start(self, index: Any, step: dict[str, Any]) -> list[Event]:
        kind = step.get("type")
        if not isinstance(index, int) or not isinstance(kind, str):
            return []
        self._step_types[index] = kind
        if kind == "model_output":
            return [TextDelta(text) for text in _texts(step.get("content"))]
        if kind == "thought":
            if isinstance(step.get("signature"), str):
                self._signature = step["signature"]
            return []
        if kind == "function_call":
            call = len(self._calls)
            self._calls[index] = call
            signature, self._signature = self._signature, None
            events: list[Event] = [
                ToolCallStarted(call, step.get("id") or "", step.get("name") or "", signature)
            ]
            if step.get("arguments"):
                # Arguments that arrive whole cannot be extended by later fragments.
                self._whole.add(index)
                events.append(ToolArgumentsDelta(call, fields.arguments_json(step["arguments"])))
            return events
        return []

    def _step_delta(self, index: Any, delta: dict[str, Any]) -> list[Event]:
        kind = delta.get("type")
        step_type = self._step_types.get(index) if isinstance(index, int) else None
        if kind == "text" and step_type in ("model_output", None):
            return [TextDelta(delta.get("text") or "")]
        if kind == "thought_signature" and isinstance(delta.get("signature"), str):
            self._signature = delta["signature"]
            return []
        if kind == "thought_summary":
            content = delta.get("content")
            text = content.get("text") if isinstance(content, dict) else delta.get("text")
            return [ReasoningDelta(text)] if isinstance(text, str) and text else []
        if kind == "arguments_delta" and index in self._calls and index not in self._whole:
            return [ToolArgumentsDelta(self._calls[index], str(delta.get("arguments") or ""))]
        return []


def _texts(content: Any) -> list[str]:
    return [
        part["text"]
        for part in content or []
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ]


def read_answer(native: dict[str, Any]) -> Answer:
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[AnswerToolCall] = []
    signature: str | None = None
    for step in native.get("steps") or []:
        if not isinstance(step, dict):
            continue
        kind = step.get("type")
        if kind == "model_output":
            text += _texts(step.get("content"))
        elif kind == "thought":
            reasoning += _summary_texts(step.get("summary"))
            if isinstance(step.get("signature"), str):
                signature = step["signature"]
        elif kind == "function_call":
            calls.append(
                AnswerToolCall(str(step.get("id") or ""), str(step.get("name") or ""),
                               fields.arguments_json(step.get("arguments")), signature)
            )  # fmt: skip
            signature = None  # a thought's signature travels with the first call after it
    usage = native.get("usage")
    tier = native.get("service_tier")
    return Answer(
        id=native.get("id"),
        model=native.get("model"),
        text="".join(text),
        tool_calls=tuple(calls),
        finish=_finish_of(native.get("status"), bool(calls)),
        usage=usage_of(usage if isinstance(usage, dict) else {}),
        reasoning="".join(reasoning),
        service_tier=tier if isinstance(tier, str) else None,
    )


class InteractionsUpstream:
    """The Interactions API as the router speaks it to Gemini (an ``UpstreamFormat``)."""

    target = _TARGET

    def write_request(self, request: Request) -> dict[str, Any]:
        return write_request(request)

    def decoder(self) -> InteractionsDecoder:
        return InteractionsDecoder()

    def read_answer(self, native: dict[str, Any]) -> Answer:
        return read_answer(native)
