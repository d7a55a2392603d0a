"""Gemini generateContent as a caller's surface, reaching OpenAI and Anthropic models.

(A ``gemini-*`` model is reached natively: ``flexgrpc.providers.generate_content``.)

The request is a ``GenerateContentRequest`` (the API reads camelCase and snake_case names alike,
and so does this reader): ``contents`` is the conversation, each ``{role: user | model, parts}``
with parts ``text`` (``thought: true`` for a thought summary), ``inlineData`` (``mimeType``,
base64 ``data``), ``fileData`` (``fileUri``), ``functionCall`` (``id``, ``name``, ``args``) and
``functionResponse`` (``id``, ``name``, ``response``), any of them with a ``thoughtSignature``;
``systemInstruction`` is a ``Content``; ``tools[].functionDeclarations`` declare functions
(``parametersJsonSchema``, or ``parameters`` in the OpenAPI-style ``Schema``: upper-case types,
``nullable``); ``toolConfig.functionCallingConfig`` has ``mode`` (``AUTO``, ``ANY``, ``NONE``,
``VALIDATED``) and ``allowedFunctionNames``; ``generationConfig`` has the limits, sampling,
``responseMimeType`` with ``responseJsonSchema`` / ``responseSchema``, and ``thinkingConfig``.

The answer is a ``GenerateContentResponse``: one candidate whose ``content.parts`` are thought
summaries, the text and the function calls, ``finishReason`` (``STOP`` for text and for
function calls alike, ``MAX_TOKENS``, ``SAFETY``), ``usageMetadata`` (``promptTokenCount``
including ``cachedContentTokenCount``; ``candidatesTokenCount`` without
``thoughtsTokenCount``), ``modelVersion`` and ``responseId``. A stream is one such response per
``data:`` event, each with one part; the API never splits a function call's arguments, so a
call's argument fragments are gathered and sent whole; the last chunk has the finish and the
usage. A stream that fails ends with Google's error envelope as its last event.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

from flexgrpc.domain import ROUTER_FIELDS
from flexgrpc.providers.presenting import CostView
from flexgrpc.providers.sse import json_event
from flexgrpc.providers.translate import fields
from flexgrpc.providers.translate.ir import (
    Answer,
    Event,
    Feature,
    Finished,
    FinishReason,
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

_MODES: Final[Mapping[str, Literal["auto", "none", "required"]]] = {
    "auto": "auto", "validated": "auto", "any": "required", "none": "none",
}  # fmt: skip
_LEVELS: Final = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_FINISH: Final = {
    FinishReason.STOP: "STOP",
    FinishReason.TOOL_CALLS: "STOP",
    FinishReason.LENGTH: "MAX_TOKENS",
    FinishReason.CONTENT_FILTER: "SAFETY",
}
#: Body fields read into the intermediate form (the path's model and the RPC's streaming too).
_MAPPED: Final = frozenset(
    {"model", "stream", "contents", "systemInstruction", "tools", "toolConfig",
     "generationConfig"}
)  # fmt: skip
#: Body fields that only mean something on Google's side.
_REFUSED: Final = {
    "cachedContent": "a cached content lives on Google's side",
    "safetySettings": "safety settings are Gemini's own",
}
#: generationConfig fields read into the intermediate form; any other is refused by name.
_CONFIG: Final = frozenset(
    {"maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "seed", "candidateCount",
     "responseMimeType", "responseJsonSchema", "responseSchema", "thinkingConfig",
     "responseModalities"}
)  # fmt: skip
_SCHEMA_KEYS: Final = frozenset(
    {"type", "format", "description", "enum", "items", "properties", "required", "minItems",
     "maxItems", "minimum", "maximum", "anyOf", "title", "minLength", "maxLength", "pattern",
     "default", "example"}
)  # fmt: skip


@functools.cache  # a handful of field names, looked up on every part of every request
def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def field(container: Any, camel: str) -> Any:
    """``container[camel]`` or its snake_case spelling (the API reads both)."""
    if not isinstance(container, Mapping):
        return None
    if camel in container:
        return container[camel]
    return container.get(_snake(camel))


def _has(container: Mapping[str, Any], camel: str) -> bool:
    return camel in container or _snake(camel) in container


# ==========================================================================================
# The request
# ==========================================================================================


def read_request(body: dict[str, Any], *, target: str) -> Request:
    for name, why in _REFUSED.items():
        if field(body, name):
            raise unsupported(name, f"`{name}` cannot reach a {target} model: {why}; remove it.")
    config = field(body, "generationConfig")
    config = config if isinstance(config, Mapping) else {}
    _check_config(config, target)
    known = {*_MAPPED, *(_snake(name) for name in _MAPPED), *_REFUSED, *map(_snake, _REFUSED)}
    return Request(
        model=fields.string(body.get("model"), "model"),
        system=_system(field(body, "systemInstruction")),
        turns=_turns(field(body, "contents"), target),
        tools=_tools(field(body, "tools"), target),
        tool_choice=_choice(field(field(body, "toolConfig"), "functionCallingConfig")),
        max_tokens=fields.positive_int(
            field(config, "maxOutputTokens"), "generationConfig.maxOutputTokens"
        ),
        temperature=fields.optional_number(
            field(config, "temperature"), "generationConfig.temperature"
        ),
        top_p=fields.optional_number(field(config, "topP"), "generationConfig.topP"),
        top_k=fields.optional_int(field(config, "topK"), "generationConfig.topK"),
        stop=fields.strings(
            field(config, "stopSequences"), "generationConfig.stopSequences", single=False
        ),
        seed=fields.optional_int(field(config, "seed"), "generationConfig.seed"),
        output=_output(config, target),
        reasoning=_reasoning(field(config, "thinkingConfig")),
        passthrough={
            key: value
            for key, value in body.items()
            if key not in known and key not in ROUTER_FIELDS
        },
    )


def _check_config(config: Mapping[str, Any], target: str) -> None:
    camel = {_snake(name): name for name in _CONFIG}
    for key in config:
        if key not in _CONFIG and key not in camel:
            raise unsupported(
                f"generationConfig.{key}",
                f"`generationConfig.{key}` has no equivalent for a {target} model; remove it.",
            )
    count = field(config, "candidateCount")
    if count not in (None, 1):
        raise unsupported(
            "generationConfig.candidateCount",
            f"a {target} model answers one candidate here; set candidateCount to 1.",
        )
    modalities = field(config, "responseModalities")
    if modalities is not None and [str(m).upper() for m in modalities or []] not in ([], ["TEXT"]):
        raise unsupported(
            "generationConfig.responseModalities",
            f'a {target} model answers text only here; ask for responseModalities ["TEXT"].',
        )


def _system(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    texts = [
        fields.string(field(part, "text"), f"systemInstruction.parts[{i}].text")
        for i, part in enumerate(fields.objects(field(value, "parts"), "systemInstruction.parts"))
    ]
    return ("".join(texts),) if texts else ()


def _turns(value: Any, target: str) -> tuple[Turn, ...]:
    turns: list[Turn] = []
    calls: list[tuple[str, str]] = []  # (name, id) of the calls made so far, for responses
    for i, content in enumerate(fields.objects(value, "contents")):
        where = f"contents[{i}]"
        role = field(content, "role") or "user"
        if role not in ("user", "model", "function"):
            raise invalid(f"{where}.role", f'`{where}.role` must be "user" or "model".')
        parts = tuple(
            _part(part, f"{where}.parts[{j}]", target, calls, i)
            for j, part in enumerate(fields.objects(field(content, "parts"), f"{where}.parts"))
        )
        turns.append(Turn("assistant" if role == "model" else "user", parts))
    return tuple(turns)


def _part(
    part: Mapping[str, Any], where: str, target: str, calls: list[tuple[str, str]], turn: int
) -> Part:
    signature = fields.optional_string(field(part, "thoughtSignature"), f"{where}.thoughtSignature")
    if _has(part, "text"):
        text = fields.string(field(part, "text"), f"{where}.text")
        return Reasoning(text, signature) if field(part, "thought") is True else Text(text)
    if _has(part, "functionCall"):
        call = field(part, "functionCall")
        name = fields.string(field(call, "name"), f"{where}.functionCall.name")
        call_id = field(call, "id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{turn}_{len(calls)}_{name}"
        calls.append((name, call_id))
        arguments = fields.arguments(field(call, "args"), f"{where}.functionCall.args")
        return ToolCall(call_id, name, arguments, signature)
    if _has(part, "functionResponse"):
        return _response(field(part, "functionResponse"), f"{where}.functionResponse", calls)
    if _has(part, "inlineData"):
        return _inline(field(part, "inlineData"), f"{where}.inlineData")
    if _has(part, "fileData"):
        uri = field(field(part, "fileData"), "fileUri")
        mime = field(field(part, "fileData"), "mimeType")
        if isinstance(uri, str) and uri.startswith(("https://", "http://")):
            image = mime is None or str(mime).startswith("image/")
            kind: Literal["image", "document"] = "image" if image else "document"
            return Media(kind, media_type=mime if isinstance(mime, str) else None, url=uri)
        raise unsupported(
            f"{where}.fileData",
            f"a {target} model takes files as inlineData or an http(s) fileUri; a Files API uri "
            "names a file on Google's side only.",
        )
    named = next(iter(part), "an empty part")
    raise unsupported(where, f"a `{named}` part cannot be translated for a {target} model.")


def _response(value: Any, where: str, calls: list[tuple[str, str]]) -> ToolResult:
    name = fields.string(field(value, "name"), f"{where}.name")
    call_id = field(value, "id")
    if not isinstance(call_id, str) or not call_id:
        # Without an id, a response answers the latest call of its name.
        call_id = next((i for n, i in reversed(calls) if n == name), "")
        if not call_id:
            raise invalid(
                f"{where}.id",
                f"`{where}` answers no earlier functionCall named {name!r}: give its `id`.",
            )
    response = field(value, "response")
    text = json.dumps(response if response is not None else {}, ensure_ascii=False)
    return ToolResult(call_id, text, name)


def _inline(value: Any, where: str) -> Media:
    mime = fields.string(field(value, "mimeType"), f"{where}.mimeType")
    data = fields.string(field(value, "data"), f"{where}.data")
    kind: Literal["image", "document"] = "image" if mime.startswith("image/") else "document"
    return Media(kind, media_type=mime, data=data)


def _tools(value: Any, target: str) -> tuple[Tool, ...]:
    found: list[Tool] = []
    for i, tool in enumerate(fields.objects(value, "tools")):
        other = [
            key for key in tool if key not in ("functionDeclarations", "function_declarations")
        ]
        if other:
            raise unsupported(
                f"tools[{i}].{other[0]}",
                f"Gemini's built-in tool `{other[0]}` cannot run for a {target} model; declare "
                "functionDeclarations.",
            )
        where = f"tools[{i}].functionDeclarations"
        for j, declaration in enumerate(fields.objects(field(tool, "functionDeclarations"), where)):
            description = field(declaration, "description")
            found.append(
                Tool(
                    name=fields.string(field(declaration, "name"), f"{where}[{j}].name"),
                    description=description if isinstance(description, str) else None,
                    parameters=_parameters(declaration, f"{where}[{j}]"),
                )
            )
    return tuple(found)


def _parameters(declaration: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    declared = field(declaration, "parametersJsonSchema")
    if declared is not None:
        return fields.schema(declared, f"{where}.parametersJsonSchema")
    schema = field(declaration, "parameters")
    if schema is None:
        return None
    return json_schema(fields.schema(schema, f"{where}.parameters"))


def json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Gemini's OpenAPI-style ``Schema`` as JSON Schema: types in lower case, ``nullable`` as a
    ``null`` type, ``propertyOrdering`` dropped (JSON Schema keeps no order)."""
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        name = key if key in _SCHEMA_KEYS else re.sub(r"_([a-z])", lambda m: m[1].upper(), key)
        if name == "type" and isinstance(value, str):
            converted["type"] = value.lower()
        elif name == "properties" and isinstance(value, Mapping):
            converted["properties"] = {
                prop: json_schema(sub) if isinstance(sub, Mapping) else sub
                for prop, sub in value.items()
            }
        elif name == "items" and isinstance(value, Mapping):
            converted["items"] = json_schema(value)
        elif name == "anyOf" and isinstance(value, list):
            converted["anyOf"] = [json_schema(s) if isinstance(s, Mapping) else s for s in value]
        elif name in _SCHEMA_KEYS:
            converted[name] = value
    if schema.get("nullable") is True and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    return converted


def _choice(calling: Any) -> ToolChoice | None:
    if calling is None:
        return None
    where = "toolConfig.functionCallingConfig"
    mode = field(calling, "mode") or "AUTO"
    if not isinstance(mode, str) or mode.lower().removeprefix("mode_") not in _MODES:
        raise invalid(f"{where}.mode", f"`{where}.mode` must be AUTO, ANY, NONE or VALIDATED.")
    names = fields.strings(
        field(calling, "allowedFunctionNames"), f"{where}.allowedFunctionNames", single=False
    )
    return ToolChoice(_MODES[mode.lower().removeprefix("mode_")], names)


def _output(config: Mapping[str, Any], target: str) -> JsonOutput | None:
    mime = field(config, "responseMimeType")
    if mime in (None, "text/plain"):
        return None
    if mime != "application/json":
        raise unsupported(
            "generationConfig.responseMimeType",
            f"a {target} model answers text/plain or application/json here, not {mime!r}.",
        )
    declared = field(config, "responseJsonSchema")
    if declared is not None:
        return JsonOutput(fields.schema(declared, "generationConfig.responseJsonSchema"))
    schema = field(config, "responseSchema")
    if schema is not None:
        return JsonOutput(json_schema(fields.schema(schema, "generationConfig.responseSchema")))
    return JsonOutput()


def _reasoning(thinking: Any) -> ReasoningControl | None:
    if not isinstance(thinking, Mapping):
        return None
    where = "generationConfig.thinkingConfig"
    budget = fields.optional_int(field(thinking, "thinkingBudget"), f"{where}.thinkingBudget")
    level = field(thinking, "thinkingLevel")
    if level is not None and str(level).lower() not in _LEVELS:
        raise invalid(f"{where}.thinkingLevel", f"`{where}.thinkingLevel` must be LOW or HIGH.")
    summary = field(thinking, "includeThoughts") is True
    if budget is None and level is None and not summary:
        return None
    return ReasoningControl(
        effort="none" if budget == 0 else _LEVELS[str(level).lower()] if level else None,  # type: ignore[arg-type]
        budget_tokens=budget if budget and budget > 0 else None,
        summary=summary,
    )


# ==========================================================================================
# The answer
# ==========================================================================================


def usage_metadata(usage: Usage, cost: CostView | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "promptTokenCount": usage.input,
        "candidatesTokenCount": usage.output - usage.reasoning,
        "totalTokenCount": usage.input + usage.output,
    }
    if usage.cached:
        block["cachedContentTokenCount"] = usage.cached
    if usage.reasoning:
        block["thoughtsTokenCount"] = usage.reasoning
    if cost is not None:
        block["cost"] = cost
    return block


def _call_part(call_id: str, name: str, arguments: str, signature: str | None) -> dict[str, Any]:
    part: dict[str, Any] = {
        "functionCall": {
            "id": call_id,
            "name": name,
            "args": dict(fields.arguments(arguments, "arguments")),
        }
    }
    if signature:
        part["thoughtSignature"] = signature
    return part


def _thought(text: str, signature: str | None) -> dict[str, Any]:
    """A thought summary part; its provider's signature rides on it, to be sent back."""
    part: dict[str, Any] = {"text": text, "thought": True}
    if signature:
        part["thoughtSignature"] = signature
    return part


def _response_id(native: str | None) -> str:
    return native or uuid.uuid4().hex[:22]


def _chunk(
    parts: list[dict[str, Any]], *, model: str, response_id: str, **candidate: Any
) -> dict[str, Any]:
    usage = candidate.pop("usage", None)
    chunk: dict[str, Any] = {
        "candidates": [{"content": {"parts": parts, "role": "model"}, **candidate, "index": 0}]
    }
    if usage is not None:
        chunk["usageMetadata"] = usage
    chunk["modelVersion"] = model
    chunk["responseId"] = response_id
    return chunk


def answer_body(answer: Answer, *, model: str, created: int) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if answer.reasoning or answer.reasoning_signature:
        parts.append(_thought(answer.reasoning, answer.reasoning_signature))
    if answer.text:
        parts.append({"text": answer.text})
    for call in answer.tool_calls:
        parts.append(_call_part(call.id, call.name, call.arguments, call.signature))
    return _chunk(
        parts,
        model=model,
        response_id=_response_id(answer.id),
        finishReason=_FINISH[answer.finish],
        usage=usage_metadata(answer.usage),
    )


def error_frame(message: str, *, code: str | None = None) -> bytes:
    """Google's error envelope as one ``data:`` event, the way Gemini ends a failed stream; the
    router's code rides in an ``ErrorInfo`` detail, as on every Google-shaped error."""
    error: dict[str, Any] = {"code": 500, "message": message, "status": "INTERNAL"}
    if code:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": code, "domain": "flexinference.v1"}]  # fmt: skip
    return json_event({"error": error})


class GenerateContentEncoder:
    """Intermediate events → ``streamGenerateContent?alt=sse`` chunks."""

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._id: str | None = None
        self._calls: dict[int, ToolCallStarted] = {}
        self._arguments: dict[int, list[str]] = {}
        self._done = False

    def frames(self, event: Event, cost: CostView | None) -> list[bytes]:
        if self._done:
            return []
        if isinstance(event, Started):
            self._id = self._id or event.id
            return []
        if isinstance(event, TextDelta):
            return [*self._flush(), self._frame([{"text": event.text}])] if event.text else []
        if isinstance(event, ReasoningDelta):
            if not event.text and not event.signature:
                return []
            return [*self._flush(), self._frame([_thought(event.text, event.signature)])]
        if isinstance(event, ToolCallStarted):
            self._calls[event.index] = event
            self._arguments[event.index] = []
            return []
        if isinstance(event, ToolArgumentsDelta):
            self._arguments.setdefault(event.index, []).append(event.fragment)
            return []
        self._done = True
        if isinstance(event, Finished):
            final = _chunk(
                self._call_parts(),
                model=self._model,
                response_id=self._response_id(),
                finishReason=_FINISH[event.reason],
                usage=usage_metadata(event.usage, cost),
            )
            return [json_event(final)]
        return [error_frame(event.message, code=event.code)]

    def end(self, cost: CostView | None) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [error_frame("the upstream stream ended before the answer was complete")]

    def error_frame(self, code: str, message: str) -> bytes:
        return error_frame(message, code=code)

    def _response_id(self) -> str:
        self._id = _response_id(self._id)
        return self._id

    def _frame(self, parts: list[dict[str, Any]]) -> bytes:
        chunk = _chunk(parts, model=self._model, response_id=self._response_id())
        return json_event(chunk)

    def _call_parts(self) -> list[dict[str, Any]]:
        """The calls gathered so far, whole (the API never splits a call's arguments)."""
        parts = [
            _call_part(
                head.id, head.name, "".join(self._arguments.get(i, [])) or "{}", head.signature
            )
            for i, head in sorted(self._calls.items())
        ]
        self._calls, self._arguments = {}, {}
        return parts

    def _flush(self) -> list[bytes]:
        parts = self._call_parts()
        return [self._frame(parts)] if parts else []


_FIELDS: Final[Mapping[Feature, str]] = {
    Feature.JSON_WITHOUT_SCHEMA: "generationConfig.responseMimeType",
    Feature.TOP_K: "generationConfig.topK",
    Feature.DOCUMENT: "contents",
    Feature.IMAGE: "contents",
    Feature.TOOL_CHOICE: "toolConfig.functionCallingConfig",
}


class GenerateContentCaller:
    """Gemini generateContent as a caller's surface (a ``CallerFormat``)."""

    name = "Gemini generateContent"

    def field_of(self, feature: Feature) -> str:
        return _FIELDS[feature]

    def read_request(self, body: dict[str, Any], *, target: str) -> Request:
        return read_request(body, target=target)

    def encoder(self, *, model: str, body: dict[str, Any], created: int) -> GenerateContentEncoder:
        return GenerateContentEncoder(model=model)

    def answer_body(self, answer: Answer, *, model: str, created: int) -> dict[str, Any]:
        return answer_body(answer, model=model, created=created)
