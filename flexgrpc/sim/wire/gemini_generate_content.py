"""Gemini generateContent: ``POST /v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` (also under ``/v1/``; ``x-goog-api-key`` header or ``?key=``).

The model is in the path, not the body. The answer is a ``GenerateContentResponse``::

    {"candidates": [{"content": {"parts": [...], "role": "model"},
                     "finishReason": "STOP" | "MAX_TOKENS", "index": 0}],
     "usageMetadata": {"promptTokenCount", "candidatesTokenCount", "totalTokenCount",
                       "promptTokensDetails": [{"modality": "TEXT", "tokenCount"}],
                       "cachedContentTokenCount", "cacheTokensDetails",   (when cached)
                       "thoughtsTokenCount"},                             (when it thought)
     "modelVersion": <model>, "responseId": <id>}

Parts: ``{"text"}``; ``{"text", "thought": true}`` (a thought summary, only with
``generationConfig.thinkingConfig.includeThoughts``); ``{"functionCall": {"id", "name",
"args"}}``. When the model thought, its first answer part carries a ``thoughtSignature``.
Function calls end with ``finishReason: STOP`` like text.

Streaming: ``:streamGenerateContent?alt=sse`` answers server-sent events, each
``data: <GenerateContentResponse>`` with one part (a text fragment, a thought, or a whole
function call: the API does not split arguments); without ``alt=sse`` the same chunks arrive
as one JSON array written incrementally (``[{...}``, ``,\\r\\n{...}``, ..., ``]``). Every
chunk carries ``usageMetadata`` counted so far; the last one has ``finishReason`` and the
final usage. There are no acknowledgement events: the first chunk carries a part and is the
start, sent after the start delay.

Tools: ``tools[].functionDeclarations[{name, parameters | parametersJsonSchema}]``;
``toolConfig.functionCallingConfig.mode`` ``AUTO`` (the default), ``ANY``, ``NONE`` or
``VALIDATED`` (decides like ``AUTO``), with ``allowedFunctionNames``. A last turn holding a
``functionResponse`` part is answered with text. Structured output:
``generationConfig.responseMimeType: application/json`` with ``responseJsonSchema`` (JSON
Schema) or ``responseSchema`` (OpenAPI-style ``Schema``: upper-case types, ``nullable``,
``propertyOrdering``). The API's JSON parser takes snake_case field names too, and so does
the simulator.

Tier (sources: Gemini API "Flex inference" and "Priority inference" guides; google-genai's
``GenerateContentConfig.service_tier``, which the SDK moves to the request's top level as
``serviceTier``): the top-level body field ``serviceTier`` / ``service_tier``, values
``flex``, ``standard``, ``priority`` (an enum, so matched without case; the ``SERVICE_TIER_``
prefix and ``unspecified`` = standard are accepted too), absent = standard. The tier served is
reported in the ``x-gemini-service-tier`` response header (``standard``, ``flex``,
``priority``), which the guides tell callers to read to detect a downgrade; the body does not
carry it. Flex capacity refusals are Google's ``{"error": {code, message, status}}`` with
503 ``UNAVAILABLE`` (or 429 ``RESOURCE_EXHAUSTED``).

``:countTokens`` (``GeminiTokenCount``) answers ``{"totalTokens", "promptTokensDetails"}``
for ``contents`` or a whole ``generateContentRequest``, counted as the generateContent request
with that prompt counts its ``promptTokenCount``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from flexgrpc.sim.asks import ANY_JSON_OBJECT, Ask, Tool, ToolChoice, named, schema_object
from flexgrpc.sim.generation import Generation, ToolCall
from flexgrpc.sim.wire.base import Frame, RequestError, TokenCounter, WireFormat, dumps
from flexgrpc.sim.wire.errors import GoogleErrors

_PATH = re.compile(r"^/(v1beta|v1)/models/([^/:]+):([A-Za-z]+)$")
_TIER_PREFIX = "service_tier_"
_TIERS = {"flex": "flex", "standard": "standard", "priority": "priority", "unspecified": "standard"}
_MODES = {"any": ToolChoice.REQUIRED, "none": ToolChoice.NONE}
_THOUGHT_SUMMARY = "**Weighing the request**\n\nWorking out what is asked before answering."


def match_path(path: str) -> tuple[str, str, str] | None:
    """(api version, model, method) of a ``/{version}/models/{model}:{method}`` path."""
    found = _PATH.match(path)
    return (found.group(1), found.group(2), found.group(3)) if found else None


def field(container: Any, camel: str) -> Any:
    """``container[camel]``, or its snake_case spelling (the API accepts both)."""
    if not isinstance(container, Mapping):
        return None
    if camel in container:
        return container[camel]
    return container.get(re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower())


def google_key_present(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    return bool(headers.get("x-goog-api-key", "").strip() or query.get("key", "").strip())


def _check_contents(body: Mapping[str, Any], message: str) -> None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise RequestError(message, "contents")


class GeminiGenerateContent(WireFormat):
    """One instance per request path: the model and the streaming mode live in the URL."""

    surface = "generate_content"
    provider = "gemini"
    errors = GoogleErrors()
    tier_names: Mapping[str | None, str] = {None: "standard"}
    served_names: Mapping[str, str] = {
        "standard": "standard",
        "flex": "flex",
        "priority": "priority",
    }
    served_tier_header = "x-gemini-service-tier"
    delivery_fields = frozenset({"serviceTier", "service_tier"})

    def __init__(self, path: str, model: str, *, stream: bool, sse: bool) -> None:
        self.path = path
        self.model = model
        self.stream = stream
        self.sse = sse
        if stream and not sse:
            self.stream_content_type = "application/json; charset=UTF-8"

    @classmethod
    def for_path(cls, path: str, query: Mapping[str, str]) -> GeminiGenerateContent | None:
        parts = match_path(path)
        if parts is None or parts[2] not in ("generateContent", "streamGenerateContent"):
            return None
        stream = parts[2] == "streamGenerateContent"
        return cls(path, parts[1], stream=stream, sse=stream and query.get("alt") == "sse")

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return google_key_present(headers, query)

    def check_body(self, body: Mapping[str, Any]) -> None:
        _check_contents(body, "* GenerateContentRequest.contents: contents is not specified")

    def stream_requested(self, body: Mapping[str, Any]) -> bool:
        return self.stream

    def model_of(self, body: Mapping[str, Any]) -> Any:
        return self.model

    def requested_tier(self, body: Mapping[str, Any]) -> Any:
        return field(body, "serviceTier")

    def canonical_tier(self, body: Mapping[str, Any]) -> str:
        value = self.requested_tier(body)
        if value is None:
            return "standard"
        name = value.lower().removeprefix(_TIER_PREFIX) if isinstance(value, str) else None
        if name in _TIERS:
            return _TIERS[name]
        raise RequestError(
            "Invalid value at 'service_tier' (type.googleapis.com/google.ai.generativelanguage."
            f"v1beta.ServiceTier), {dumps(value)}",
            "service_tier",
        )

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        value = field(field(body, "generationConfig"), "maxOutputTokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def request_id(self, generation: Generation) -> str:
        return generation.b62_id(0, 22)

    # -- what is asked --------------------------------------------------------------------

    def ask(self, body: Mapping[str, Any]) -> Ask:
        offered: list[Tool] = []
        tools = body.get("tools")
        for tool in tools if isinstance(tools, list) else []:
            declarations = field(tool, "functionDeclarations")
            for declaration in declarations if isinstance(declarations, list) else []:
                name = named(field(declaration, "name"))
                if name is None:
                    continue
                parameters = field(declaration, "parametersJsonSchema")
                if parameters is None:
                    parameters = field(declaration, "parameters")
                offered.append(Tool(name, schema_object(parameters)))
        calling = field(field(body, "toolConfig"), "functionCallingConfig")
        mode = field(calling, "mode")
        allowed = field(calling, "allowedFunctionNames")
        config = field(body, "generationConfig")
        schema: Mapping[str, Any] | None = None
        if field(config, "responseMimeType") == "application/json":
            declared = field(config, "responseJsonSchema")
            if declared is None:
                declared = field(config, "responseSchema")
            schema = schema_object(declared) or ANY_JSON_OBJECT
        return Ask(
            tools=tuple(offered),
            choice=_MODES.get(mode.lower(), ToolChoice.AUTO)
            if isinstance(mode, str)
            else ToolChoice.AUTO,
            allowed=tuple(n for n in allowed if isinstance(n, str))
            if isinstance(allowed, list)
            else (),
            after_tool_result=self._after_function_response(body),
            text_schema=schema,
        )

    @staticmethod
    def _after_function_response(body: Mapping[str, Any]) -> bool:
        contents = body.get("contents")
        last = contents[-1] if isinstance(contents, list) and contents else None
        parts = field(last, "parts")
        return isinstance(parts, list) and any(
            field(part, "functionResponse") is not None for part in parts
        )

    @staticmethod
    def _includes_thoughts(generation: Generation) -> bool:
        thinking = field(field(generation.body, "generationConfig"), "thinkingConfig")
        return field(thinking, "includeThoughts") is True

    # -- the answer -----------------------------------------------------------------------

    def _signature(self, generation: Generation) -> str:
        return generation.b62_id(2, 48)

    @staticmethod
    def _call_part(call: ToolCall) -> dict[str, Any]:
        return {
            "functionCall": {
                "id": call.b62_id(8).lower(),
                "name": call.name,
                "args": call.arguments,
            }
        }

    def _answer_parts(self, generation: Generation) -> list[dict[str, Any]]:
        """The parts after any thought, as the stream sends them (one per chunk)."""
        if generation.tool_calls:
            parts = [self._call_part(call) for call in generation.tool_calls]
        else:
            parts = [{"text": token} for token in generation.tokens]
        if generation.reasoning_tokens and parts:
            parts[0] = {**parts[0], "thoughtSignature": self._signature(generation)}
        return parts

    def _usage(self, generation: Generation, output_tokens: int) -> dict[str, Any]:
        prompt = generation.input_tokens
        usage: dict[str, Any] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt + output_tokens + generation.reasoning_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        }
        if generation.cached_tokens:
            usage["cachedContentTokenCount"] = generation.cached_tokens
            usage["cacheTokensDetails"] = [
                {"modality": "TEXT", "tokenCount": generation.cached_tokens}
            ]
        if generation.reasoning_tokens:
            usage["thoughtsTokenCount"] = generation.reasoning_tokens
        return usage

    def _finish_reason(self, generation: Generation) -> str:
        return "MAX_TOKENS" if generation.truncated else "STOP"

    def _response(
        self,
        generation: Generation,
        parts: list[dict[str, Any]],
        usage: dict[str, Any],
        *,
        final: bool,
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if final:
            candidate["finishReason"] = self._finish_reason(generation)
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": generation.model,
            "responseId": self.request_id(generation),
        }

    def final_body(self, generation: Generation) -> dict[str, Any]:
        parts = self._answer_parts(generation)
        if not generation.tool_calls:
            text_part: dict[str, Any] = {"text": generation.text}
            if generation.reasoning_tokens:
                text_part["thoughtSignature"] = self._signature(generation)
            parts = [text_part]
        if generation.reasoning_tokens and self._includes_thoughts(generation):
            parts = [{"text": _THOUGHT_SUMMARY, "thought": True}, *parts]
        usage = self._usage(generation, generation.output_tokens)
        return self._response(generation, parts, usage, final=True)

    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        chunks = 0

        def frame(payload: dict[str, Any], *, pace: int = 0, token: bool = False) -> Frame:
            nonlocal chunks
            text = dumps(payload)
            if self.sse:
                data = f"data: {text}\r\n\r\n".encode()
            else:
                data = (("[" if chunks == 0 else ",\r\n") + text).encode()
            chunks += 1
            return Frame(data, pace=pace, token=token)

        reasoning = generation.reasoning_tokens
        pending_pace = reasoning
        if reasoning and self._includes_thoughts(generation):
            thought = [{"text": _THOUGHT_SUMMARY, "thought": True}]
            yield frame(
                self._response(generation, thought, self._usage(generation, 0), final=False)
            )
        # Otherwise thinking happens out of sight, before the first answer chunk.
        parts = self._answer_parts(generation)
        sent = 0
        for position, part in enumerate(parts):
            weight = len(generation.tool_calls[position].fragments) if generation.tool_calls else 1
            sent += weight
            last = position == len(parts) - 1
            usage = self._usage(generation, generation.output_tokens if last else sent)
            pace = pending_pace if position == 0 else weight
            yield frame(
                self._response(generation, [part], usage, final=last),
                pace=pace,
                token=True,
            )
            pending_pace = 0
        if not self.sse:
            yield Frame(b"]")


class GeminiTokenCount(TokenCounter):
    """``POST /{version}/models/{model}:countTokens``."""

    errors = GoogleErrors()

    @staticmethod
    def matches(path: str) -> bool:
        parts = match_path(path)
        return parts is not None and parts[2] == "countTokens"

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return google_key_present(headers, query)

    def prompt_request(self, body: Mapping[str, Any]) -> tuple[WireFormat, Mapping[str, Any]]:
        wire = GeminiGenerateContent("", "", stream=False, sse=False)
        request = field(body, "generateContentRequest")
        if isinstance(request, Mapping):
            # The inner request names its model; generateContent has it in the path instead.
            prompt = {k: v for k, v in request.items() if k != "model"}
            _check_contents(prompt, "* GenerateContentRequest.contents: contents is not specified")
            return wire, prompt
        _check_contents(body, "* CountTokensRequest.contents: contents is not specified")
        return wire, {"contents": body["contents"]}

    def answer(self, tokens: int) -> dict[str, Any]:
        return {
            "totalTokens": tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
        }
