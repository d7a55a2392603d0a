"""Chat Completions in front of another provider: a native adapter plus a translator.

The native adapter still owns the upstream wire format (start detection, served tier, usage);
the translator owns what the caller sees (chat chunks, the chat.completion object).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flexgrpc.domain import RouteJob, Surface, UpstreamTier
from flexgrpc.providers.base import Adapter, EventKind, StreamTracker
from flexgrpc.providers.sse import SseEvent, format_event
from flexgrpc.providers.translate import ChatStream, ChatTranslator


class TranslatedChatAdapter(Adapter):
    surface = Surface.CHAT_COMPLETIONS

    def __init__(self, native: Adapter, translator: ChatTranslator) -> None:
        self._native = native
        self._translator = translator
        self.provider = native.provider
        self.path = native.path

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return self._native.auth_headers(api_key)

    def served_tier_header(self, headers: Mapping[str, str]) -> str | None:
        return self._native.served_tier_header(headers)

    def is_capacity_error(self, status: int, body: bytes) -> bool:
        return self._native.is_capacity_error(status, body)

    whole_answers = False  # the caller's answer is built from the translated stream

    def prepare_body(self, job: RouteJob, tier: UpstreamTier, stream: bool) -> dict[str, Any]:
        body = self._translator.request(job.body)
        body["stream"] = True
        body["service_tier"] = self.tier_value(tier)
        return body

    def tracker(self, job: RouteJob) -> StreamTracker:
        options = job.body.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        include_usage = asked or job.include_cost  # cost rides on the usage chunk
        stream = self._translator.stream(model=job.model, include_usage=include_usage)
        return _TranslatedTracker(self._native.tracker(job), self._translator, stream, job.model)

    def stream_error_frame(self, code: str, message: str) -> bytes:
        return self._translator.stream(model="", include_usage=False).error_frame(
            message, code=code
        )


class _TranslatedTracker(StreamTracker):
    def __init__(
        self, native: StreamTracker, translator: ChatTranslator, stream: ChatStream, model: str
    ) -> None:
        super().__init__()
        self._native = native
        self._translator = translator
        self._stream = stream
        self._model = model

    def feed(self, event: SseEvent) -> EventKind:
        kind = self._native.feed(event)
        self.served_tier = self._native.served_tier or self.served_tier
        self.usage, self.finished = self._native.usage, self._native.finished
        self.usage_final = self._native.usage_final
        return kind

    def result(self) -> dict[str, Any]:
        return self._native.result()

    def present(self, event: SseEvent) -> list[bytes]:
        return self._costed(self._stream.feed(event))

    def present_end(self) -> list[bytes]:
        return self._costed(self._stream.finish())

    def _costed(self, frames: list[bytes]) -> list[bytes]:
        """Chat frames with ``usage.cost`` on the usage chunk, when the caller asked for it."""
        if self.cost is None:
            return frames
        out = []
        for frame in frames:
            data = frame.removeprefix(b"data: ").strip()
            chunk = json.loads(data) if data.startswith(b"{") else None
            if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
                chunk["usage"]["cost"] = self.cost
                frame = format_event(json.dumps(chunk, separators=(",", ":")))
            out.append(frame)
        return out

    def present_result(self) -> dict[str, Any]:
        return self._translator.response(self._native.result(), model=self._model)

    def error_frame(self, adapter: Adapter, code: str, message: str) -> bytes:
        return self._stream.error_frame(message, code=code)
