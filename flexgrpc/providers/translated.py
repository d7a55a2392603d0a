"""Chat Completions in front of another provider: the provider's own reader plus a Chat presenter.

The native adapter still owns the upstream wire format (request building, start detection,
served tier, usage); the translator owns what the caller sees (chat chunks, the
``chat.completion`` object).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flexgrpc.domain import RouteJob, Surface, UpstreamTier
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.openai import wants_usage_chunk
from flexgrpc.providers.presenting import CostView, Presenter
from flexgrpc.providers.reading import UpstreamReader
from flexgrpc.providers.sse import SseEvent, format_event
from flexgrpc.providers.translate import ChatStream, ChatTranslator


class TranslatedChatAdapter(Adapter):
    surface = Surface.CHAT_COMPLETIONS
    whole_answers = False  # the caller's answer is built from the translated stream

    def __init__(self, native: Adapter, translator: ChatTranslator) -> None:
        self._native = native
        self._translator = translator
        self.provider = native.provider
        self.upstream = native.upstream
        self.path = native.path

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return self._native.auth_headers(api_key)

    def served_tier_header(self, headers: Mapping[str, str]) -> str | None:
        return self._native.served_tier_header(headers)

    def is_capacity_error(self, status: int, body: bytes) -> bool:
        return self._native.is_capacity_error(status, body)

    def prepare_body(self, job: RouteJob, tier: UpstreamTier, stream: bool) -> dict[str, Any]:
        body = self._translator.request(job.body)
        body["stream"] = True
        body["service_tier"] = self.tier_value(tier)
        return body

    def reader(self, job: RouteJob) -> UpstreamReader:
        return self._native.reader(job)

    def presenter(self, job: RouteJob) -> Presenter:
        # The usage chunk carries the cost, so a caller asking for include_cost gets it.
        stream = self._translator.stream(model=job.model, include_usage=wants_usage_chunk(job))
        return TranslatedChatPresenter(self._translator, stream, job.model)


class TranslatedChatPresenter(Presenter):
    """The provider's events as Chat chunks; the provider's answer as a ``chat.completion``."""

    def __init__(self, translator: ChatTranslator, stream: ChatStream, model: str) -> None:
        self._translator = translator
        self._stream = stream
        self._model = model

    def frames(self, event: SseEvent, cost: CostView | None) -> list[bytes]:
        return _with_cost(self._stream.feed(event), cost)

    def end_frames(self, cost: CostView | None) -> list[bytes]:
        return _with_cost(self._stream.finish(), cost)

    def body(self, reader: UpstreamReader) -> bytes:
        completion = self._translator.response(reader.answer(), model=self._model)
        return json.dumps(completion, ensure_ascii=False).encode()

    def error_frame(self, code: str, message: str) -> bytes:
        return self._stream.error_frame(message, code=code)


def _with_cost(frames: list[bytes], cost: CostView | None) -> list[bytes]:
    """Chat frames with ``usage.cost`` on the usage chunk, when the caller asked for it."""
    if cost is None:
        return frames
    out = []
    for frame in frames:
        data = frame.removeprefix(b"data: ").strip()
        chunk = json.loads(data) if data.startswith(b"{") else None
        if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
            chunk["usage"]["cost"] = cost
            frame = format_event(json.dumps(chunk, separators=(",", ":")))
        out.append(frame)
    return out
