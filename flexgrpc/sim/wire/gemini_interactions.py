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

from flexgrpc.sim.generation import Generation
from flexgrpc.sim.wire.base import Frame, RequestError, WireFormat, require_model, sse
from flexgrpc.sim.wire.errors import GoogleErrors


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


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
            "status": "incomplete" if generation.truncated else "completed",
            "usage": self._usage(generation),
            "created": _iso(generation.created),
            "updated": _iso(generation.created),
            "service_tier": self.served_name(generation),
            "object": "interaction",
            "model": generation.model,
        }

    def _signature(self, generation: Generation) -> str:
        return generation.b62_id(2, 48)

    def _steps(self, generation: Generation) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        if generation.reasoning_tokens:
            steps.append({"type": "thought", "signature": self._signature(generation)})
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
