"""Gemini Interactions: ``POST /v1beta/interactions`` (``x-goog-api-key`` header or ``?key=``).

Format chosen: the **steps schema** (``Api-Revision: 2026-05-20``), not the legacy
content-based one. Why: Google's "Interactions API: breaking changes (May 2026)" guide replaced
the ``outputs`` array with ``steps`` and the ``interaction.start`` / ``content.start`` /
``content.delta`` / ``content.stop`` / ``interaction.complete`` events with the ones below; the
new schema became the default on 2026-05-20 and the legacy schema was removed in June 2026 (the
``Api-Revision`` header is now ignored). The streaming guide's example and the SDKs' generated
types (``InteractionSSEEvent`` = created | completed | status_update | error | step.start |
step.delta | step.stop) agree on it. The simulator ignores ``Api-Revision``, as the API does.

Stream: ``event: <event_type>`` + ``data: {..., "event_type": <event_type>}``::

    interaction.created        {"interaction": {id, status: in_progress, object, model}}   (ack)
    interaction.status_update  {"interaction_id", "status": "in_progress"}                  (ack)
    [step.start {"index": 0, "step": {"type": "thought"}}                 <- the start, when
     step.delta {"index": 0, "delta": {"type": "thought_signature", ...}}    the model thinks
     step.stop  {"index": 0}]
    step.start {"index": i, "step": {"type": "model_output"}}             <- otherwise the start
    step.delta {"index": i, "delta": {"type": "text", "text": ...}} ...
    step.stop  {"index": i}
    interaction.completed      {"interaction": {id, status, usage, created, updated,
                                                service_tier, object, model}}  (no steps)
    event: done / data: [DONE]

A tool-call answer has ``function_call`` steps (one per call) in place of the
``model_output`` step, and the interaction ends with status ``requires_action``::

    step.start {"index": i, "step": {"type": "function_call", "id", "name", "arguments": {}}}
    step.delta {"index": i, "delta": {"type": "arguments_delta", "arguments": "..."}} ...
    step.stop  {"index": i}

Non-streamed, the step is ``{type: function_call, id, name, arguments: {...}}``. Tools are
``tools[{type: function, name, parameters}]``; ``generation_config.tool_choice`` is ``auto``,
``any``, ``none``, ``validated`` (decides like ``auto``) or
``{allowed_tools: {mode, tools: [names]}}``. A ``function_result`` as the last input step is
answered with text. ``response_format`` (``{type: text, mime_type: application/json,
schema}``, a list of formats, or a bare JSON Schema beside ``response_mime_type``) makes the
text JSON valid against the schema.

Tier: requested with the body field ``service_tier`` = ``flex`` | ``standard`` | ``priority``
(absent = standard; there is no ``auto``); the tier served is echoed as the interaction's
``service_tier`` in ``interaction.completed`` and the non-streamed interaction.

Usage (``interaction.usage``): ``total_input_tokens`` (includes cached),
``input_tokens_by_modality``, ``total_cached_tokens``, ``total_output_tokens`` (visible output,
excludes thoughts), ``total_thought_tokens`` (the reasoning tokens; there is no field named
``total_reasoning_tokens``), ``total_tool_use_tokens``, ``total_tokens`` (input + output +
thought + tool use).

Non-streamed: the interaction with a ``steps`` array of the output steps only (each step is one
assembled ``step.start`` -> ``step.delta``... -> ``step.stop`` cycle), i.e. the completed
interaction plus the accumulated steps. A ``max_output_tokens`` cut-off ends with status
``incomplete``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from flexgrpc.sim.asks import Ask, Tool, ToolChoice, named, schema_object
from flexgrpc.sim.generation import Generation, ToolCall
from flexgrpc.sim.wire.base import Frame, RequestError, WireFormat, require_model, sse
from flexgrpc.sim.wire.errors import GoogleErrors


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


_MODES = {"any": ToolChoice.REQUIRED, "none": ToolChoice.NONE}


def _choice(config: Any) -> tuple[ToolChoice, tuple[str, ...]]:
    choice = config.get("tool_choice") if isinstance(config, Mapping) else None
    if isinstance(choice, str):
        return _MODES.get(choice, ToolChoice.AUTO), ()
    allowed = choice.get("allowed_tools") if isinstance(choice, Mapping) else None
    if isinstance(allowed, Mapping):
        tools = allowed.get("tools")
        names = tuple(n for n in tools if isinstance(n, str)) if isinstance(tools, list) else ()
        return _MODES.get(str(allowed.get("mode", "auto")), ToolChoice.AUTO), names
    return ToolChoice.AUTO, ()


def _ends_with_function_result(value: Any) -> bool:
    last = value[-1] if isinstance(value, list) and value else None
    if not isinstance(last, Mapping):
        return False
    if last.get("type") == "function_result":
        return True
    # A turn (``{role, content: [...]}``) ending in a function result counts too.
    return _ends_with_function_result(last.get("content"))


def _response_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    formats = body.get("response_format")
    for fmt in formats if isinstance(formats, list) else [formats]:
        if not isinstance(fmt, Mapping):
            continue
        if fmt.get("type") == "text":
            if fmt.get("mime_type") == "application/json":
                return schema_object(fmt.get("schema"))
        elif fmt.get("type") not in ("audio", "image", "video"):
            return fmt  # a bare JSON Schema (with response_mime_type beside it)
    if body.get("response_mime_type") == "application/json":
        return {}
    return None


class GeminiInteractions(WireFormat):
    surface = "interactions"
    provider = "gemini"
    path = "/v1beta/interactions"
    errors = GoogleErrors()
    tier_names: Mapping[str | None, str] = {
        None: "standard",
        "standard": "standard",
        "flex": "flex",
        "priority": "priority",
    }
    served_names: Mapping[str, str] = {
        "standard": "standard",
        "flex": "flex",
        "priority": "priority",
    }

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return bool(headers.get("x-goog-api-key", "").strip() or query.get("key", "").strip())

    def check_body(self, body: Mapping[str, Any]) -> None:
        require_model(body)
        if "input" not in body:
            raise RequestError("* CreateInteractionRequest.input: field is required", "input")

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        config = body.get("generation_config")
        value = config.get("max_output_tokens") if isinstance(config, Mapping) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def ask(self, body: Mapping[str, Any]) -> Ask:
        tools = body.get("tools")
        offered = tuple(
            Tool(name, schema_object(tool.get("parameters")))
            for tool in (tools if isinstance(tools, list) else [])
            if isinstance(tool, Mapping)
            and tool.get("type") == "function"
            and (name := named(tool.get("name")))
        )
        choice, allowed = _choice(body.get("generation_config"))
        return Ask(
            tools=offered,
            choice=choice,
            allowed=allowed,
            after_tool_result=_ends_with_function_result(body.get("input")),
            text_schema=_response_schema(body),
        )

    def _id(self, generation: Generation) -> str:
        return f"v1_{generation.b62_id(0, 40)}"

    def _usage(self, generation: Generation) -> dict[str, Any]:
        output = generation.output_tokens
        thought = generation.reasoning_tokens
        return {
            "total_tokens": generation.input_tokens + output + thought,
            "total_input_tokens": generation.input_tokens,
            "input_tokens_by_modality": [{"modality": "text", "tokens": generation.input_tokens}],
            "total_cached_tokens": generation.cached_tokens,
            "total_output_tokens": output,
            "total_tool_use_tokens": 0,
            "total_thought_tokens": thought,
        }

    def _interaction(self, generation: Generation) -> dict[str, Any]:
        return {
            "id": self._id(generation),
            "status": self._status(generation),
            "usage": self._usage(generation),
            "created": _iso(generation.created),
            "updated": _iso(generation.created),
            "service_tier": self.served_name(generation),
            "object": "interaction",
            "model": generation.model,
        }

    @staticmethod
    def _status(generation: Generation) -> str:
        if generation.tool_calls:
            return "requires_action"
        return "incomplete" if generation.truncated else "completed"

    @staticmethod
    def _call_step(call: ToolCall, *, done: bool) -> dict[str, Any]:
        return {
            "type": "function_call",
            "id": call.b62_id(8).lower(),
            "name": call.name,
            "arguments": call.arguments if done else {},
        }

    def _signature(self, generation: Generation) -> str:
        return generation.b62_id(2, 48)

    def _steps(self, generation: Generation) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        if generation.reasoning_tokens:
            steps.append({"type": "thought", "signature": self._signature(generation)})
        if generation.tool_calls:
            steps += [self._call_step(call, done=True) for call in generation.tool_calls]
            return steps
        steps.append(
            {"type": "model_output", "content": [{"type": "text", "text": generation.text}]}
        )
        return steps

    def final_body(self, generation: Generation) -> dict[str, Any]:
        return {**self._interaction(generation), "steps": self._steps(generation)}

    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        def event(type_: str, **fields: Any) -> bytes:
            return sse({**fields, "event_type": type_}, type_)

        interaction_id = self._id(generation)
        created = {
            "id": interaction_id,
            "status": "in_progress",
            "object": "interaction",
            "model": generation.model,
        }
        yield Frame(event("interaction.created", interaction=created), output=False)
        yield Frame(
            event("interaction.status_update", interaction_id=interaction_id, status="in_progress"),
            output=False,
        )
        index = 0
        if generation.reasoning_tokens:
            signature = {"signature": self._signature(generation), "type": "thought_signature"}
            yield Frame(event("step.start", index=0, step={"type": "thought"}))
            yield Frame(event("step.delta", index=0, delta=signature))
            yield Frame(event("step.stop", index=0), pace=generation.reasoning_tokens)
            index = 1
        if generation.tool_calls:
            for offset, call in enumerate(generation.tool_calls):
                step = self._call_step(call, done=False)
                yield Frame(event("step.start", index=index + offset, step=step))
                for position, piece in enumerate(call.fragments):
                    delta = {"arguments": piece, "type": "arguments_delta"}
                    yield Frame(
                        event("step.delta", index=index + offset, delta=delta),
                        pace=1 if position or offset else 0,
                        token=True,
                    )
                yield Frame(event("step.stop", index=index + offset))
        else:
            yield Frame(event("step.start", index=index, step={"type": "model_output"}))
            for position, token in enumerate(generation.tokens):
                yield Frame(
                    event("step.delta", index=index, delta={"text": token, "type": "text"}),
                    pace=1 if position else 0,
                    token=True,
                )
            yield Frame(event("step.stop", index=index))
        yield Frame(event("interaction.completed", interaction=self._interaction(generation)))
        yield Frame(sse("[DONE]", "done"))
