"""Google Gemini, generateContent (``/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``).

The model is in the path, not the body: the servicer writes the path's model (and the RPC's
streaming) into the caller's body so that validation reads it as on every surface, and the
adapter takes both out again. The tier is the top-level ``serviceTier`` field (``flex``,
``standard``, ``priority``: Gemini's "Flex inference" guide; google-genai moves
``GenerateContentConfig.service_tier`` there); the served tier is the ``x-gemini-service-tier``
response header, the body does not carry it.

Start classification, from the documented stream: there are no acknowledgement events, every
chunk is a ``GenerateContentResponse`` carrying a part, so the first chunk is the start; the
chunk with a ``finishReason`` is the last, with the final ``usageMetadata`` (every chunk carries
the usage counted so far); a chunk holding ``error`` is an error. A non-streamed caller served
from a stream (the flex race) gets the response rebuilt from the chunks: adjacent text parts of
the same kind joined, function calls whole, the last chunk's usage, finish and ids.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from flexgrpc.domain import Provider, RouteJob, Surface, UpstreamTier
from flexgrpc.providers.adapter import Adapter, UpstreamRequest, encode_body
from flexgrpc.providers.presenting import CostView, NativePresenter, Presenter, reencode
from flexgrpc.providers.reading import EventKind, UpstreamReader, event_json
from flexgrpc.providers.sse import SseEvent
from flexgrpc.providers.translate.generate_content import error_frame

#: What the servicer adds to the caller's body and the adapter takes out again.
PATH_FIELDS = ("model", "stream")


def model_path(model: str, *, stream: bool) -> str:
    """The upstream path of ``model``'s generateContent (streamed: server-sent events)."""
    quoted = urllib.parse.quote(model.removeprefix("models/"), safe="-._~")
    if stream:
        return f"/models/{quoted}:streamGenerateContent?alt=sse"
    return f"/models/{quoted}:generateContent"


class GenerateContentAdapter(Adapter):
    provider = Provider.GEMINI
    surface = upstream = Surface.GENERATE_CONTENT
    path = "/models/{model}:generateContent"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key}

    def prepare_body(self, job: RouteJob, tier: UpstreamTier, stream: bool) -> dict[str, Any]:
        body = {key: value for key, value in job.body.items() if key not in PATH_FIELDS}
        body["serviceTier"] = self.tier_value(tier)
        return body

    def build(
        self, job: RouteJob, tier: UpstreamTier, api_key: str, *, stream: bool = True
    ) -> UpstreamRequest:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **self.auth_headers(api_key),
        }
        body = encode_body(self.prepare_body(job, tier, stream))
        return UpstreamRequest(model_path(job.model, stream=stream), headers, body)

    def answer_fields(self, body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        usage = body.get("usageMetadata")
        return None, usage if isinstance(usage, dict) else None  # the tier is in a header

    def served_tier_header(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-gemini-service-tier")

    def is_capacity_error(self, status: int, body: bytes) -> bool:
        return status == 429 or status >= 500

    def reader(self, job: RouteJob) -> UpstreamReader:
        return GenerateContentReader()

    def presenter(self, job: RouteJob) -> Presenter:
        return GenerateContentPresenter()


def candidate_of(chunk: Mapping[str, Any]) -> dict[str, Any]:
    """The first candidate of a ``GenerateContentResponse`` (``{}`` when there is none)."""
    candidates = chunk.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    return first if isinstance(first, dict) else {}


def parts_of(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [part for part in parts or [] if isinstance(part, dict)]


def _joinable(last: dict[str, Any], part: dict[str, Any]) -> bool:
    """Two streamed text parts that are one part of the whole answer."""
    return (
        isinstance(last.get("text"), str)
        and isinstance(part.get("text"), str)
        and bool(last.get("thought")) == bool(part.get("thought"))
        and "thoughtSignature" not in part
        and len(part) == (2 if "thought" in part else 1)
    )


class GenerateContentReader(UpstreamReader):
    """Follows a ``streamGenerateContent?alt=sse`` stream and rebuilds the whole response."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, Any] = {}
        self._parts: list[dict[str, Any]] = []

    def feed(self, event: SseEvent) -> EventKind:
        data = event_json(event)
        if "error" in data:
            return EventKind.ERROR
        if not data:
            return EventKind.LIFECYCLE
        self._last = data
        if isinstance(data.get("usageMetadata"), dict):
            self.usage = data["usageMetadata"]
        candidate = candidate_of(data)
        for part in parts_of(candidate):
            self._add(part)
        feedback = data.get("promptFeedback")
        blocked = isinstance(feedback, dict) and feedback.get("blockReason")
        if candidate.get("finishReason") or blocked:
            self.finished = self.usage_final = True
            return EventKind.TERMINAL
        return EventKind.OUTPUT

    def _add(self, part: dict[str, Any]) -> None:
        if self._parts and _joinable(self._parts[-1], part):
            self._parts[-1]["text"] += part["text"]  # our own copy, made when it was appended
        else:
            self._parts.append(dict(part))

    def answer(self) -> dict[str, Any]:
        answer = dict(self._last)
        candidate = dict(candidate_of(self._last))
        content = dict(candidate.get("content") or {"role": "model"})
        content["parts"] = self._parts
        candidate["content"] = content
        answer["candidates"] = [candidate]
        return answer


class GenerateContentPresenter(NativePresenter):
    def with_cost(self, event: SseEvent, cost: CostView) -> bytes | None:
        data = event_json(event)
        usage = data.get("usageMetadata")
        if not candidate_of(data).get("finishReason") or not isinstance(usage, dict):
            return None
        usage["cost"] = cost
        return reencode(event, data)

    def error_frame(self, code: str, message: str) -> bytes:
        return error_frame(message, code=code)
