"""Google Gemini, Interactions API (steps schema, ``Api-Revision`` pinned below).

Start classification, from the documented stream: ``interaction.created`` and
``interaction.status_update`` are lifecycle; ``step.start`` (a step — thought, model output,
function call — being added), ``step.delta`` and ``step.stop`` are output (the legacy
``content.*`` events likewise); ``interaction.completed`` (legacy ``interaction.complete``) ends
the stream; ``error`` is an error. The served tier is the interaction's ``service_tier`` (and the
``x-gemini-service-tier`` response header); usage is the completed interaction's ``usage``. A
streamed ``interaction.completed`` carries no steps, so the non-streamed answer is rebuilt from
the step events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flexgrpc.domain import Provider, RouteJob, Surface
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.presenting import CostView, NativePresenter, Presenter, reencode
from flexgrpc.providers.reading import EventKind, UpstreamReader, event_json
from flexgrpc.providers.sse import SseEvent, format_event
from flexgrpc.providers.translate.interactions import GEMINI_API_REVISION

_LIFECYCLE = {"interaction.created", "interaction.start", "interaction.status_update"}
_OUTPUT = {
    "step.start",
    "step.delta",
    "step.stop",
    "content.start",
    "content.delta",
    "content.stop",
}
_TERMINAL = {"interaction.completed", "interaction.complete"}


class InteractionsAdapter(Adapter):
    provider = Provider.GEMINI
    surface = upstream = Surface.INTERACTIONS
    path = "/interactions"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key, "api-revision": GEMINI_API_REVISION}

    def served_tier_header(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-gemini-service-tier")

    def is_capacity_error(self, status: int, body: bytes) -> bool:
        return status == 429 or status >= 500

    def reader(self, job: RouteJob) -> UpstreamReader:
        return InteractionsReader()

    def presenter(self, job: RouteJob) -> Presenter:
        return InteractionsPresenter()


class InteractionsReader(UpstreamReader):
    """Follows an Interactions stream and rebuilds the non-streamed interaction."""

    def __init__(self) -> None:
        super().__init__()
        self._interaction: dict[str, Any] = {}
        self._steps: dict[int, dict[str, Any]] = {}
        self._arguments: dict[int, str] = {}

    def feed(self, event: SseEvent) -> EventKind:
        data = event_json(event)
        kind = str(data.get("event_type") or event.event)
        if isinstance(data.get("interaction"), dict):
            self._take(data["interaction"])
        if kind in _LIFECYCLE:
            return EventKind.LIFECYCLE
        if kind in _OUTPUT:
            self._apply(kind, data)
            return EventKind.OUTPUT
        if kind in _TERMINAL:
            self.finished = self.usage_final = True
            return EventKind.TERMINAL
        if kind == "error":
            return EventKind.ERROR
        return EventKind.LIFECYCLE

    def _take(self, interaction: dict[str, Any]) -> None:
        self._interaction.update({k: v for k, v in interaction.items() if k != "steps"})
        tier = interaction.get("service_tier")
        if isinstance(tier, str):
            self.served_tier = tier
        if isinstance(interaction.get("usage"), dict):
            self.usage = interaction["usage"]

    def _apply(self, kind: str, data: dict[str, Any]) -> None:
        index = data.get("index")
        if not isinstance(index, int) or not kind.startswith("step."):
            return
        if kind == "step.start":
            self._steps[index] = dict(data.get("step") or {})
            return
        step = self._steps.setdefault(index, {})
        if kind == "step.stop":
            if index in self._arguments:
                raw = self._arguments.pop(index)
                try:
                    step["arguments"] = json.loads(raw) if raw else {}
                except ValueError:
                    step["arguments"] = raw
            return
        delta = data.get("delta") or {}
        delta_type = delta.get("type")
        if delta_type == "text":
            content = step.setdefault("content", [])
            if not content or content[-1].get("type") != "text":
                content.append({"type": "text", "text": ""})
            content[-1]["text"] += delta.get("text", "")
        elif delta_type == "arguments_delta":
            self._arguments[index] = self._arguments.get(index, "") + str(
                delta.get("arguments", "")
            )
        elif delta_type == "thought_signature":
            step["signature"] = delta.get("signature")
        elif delta_type == "thought_summary":
            step.setdefault("summary", []).append(delta.get("content") or delta.get("text"))

    def answer(self) -> dict[str, Any]:
        answer = dict(self._interaction)
        answer["steps"] = [self._steps[i] for i in sorted(self._steps)]
        return answer


class InteractionsPresenter(NativePresenter):
    def with_cost(self, event: SseEvent, cost: CostView) -> bytes | None:
        data = event_json(event)
        interaction = data.get("interaction")
        if data.get("event_type") not in _TERMINAL or not isinstance(interaction, dict):
            return None
        if isinstance(interaction.get("usage"), dict):
            interaction["usage"]["cost"] = cost
        return reencode(event, data)

    def error_frame(self, code: str, message: str) -> bytes:
        data = {"event_type": "error", "error": {"code": code, "message": message}}
        return format_event(json.dumps(data), "error")
