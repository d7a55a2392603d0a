"""Chat Completions in front of one provider, as the translation tests drive it: a request,
a whole answer and a stream through the intermediate form (the same functions the router's
translated adapter uses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flexgrpc.providers.sse import SseEvent
from flexgrpc.providers.translate import call_ids
from flexgrpc.providers.translate.chat import ChatCaller, error_frame
from flexgrpc.providers.translate.formats import UpstreamFormat
from flexgrpc.providers.translate.interactions import InteractionsUpstream
from flexgrpc.providers.translate.messages import DEFAULT_MAX_TOKENS, MessagesUpstream
from flexgrpc.providers.translated import translate_request

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicTranslator",
    "ChatPair",
    "ChatStream",
    "GeminiTranslator",
    "chat_call_id",
    "split_call_id",
    "translator_for",
]

CHAT = ChatCaller()


class ChatStream:
    """One upstream stream's events as Chat chunk frames."""

    def __init__(self, upstream: UpstreamFormat, *, model: str, include_usage: bool,
                 created: int) -> None:  # fmt: skip
        self._decoder = upstream.decoder()
        body = {"stream_options": {"include_usage": include_usage}}
        self._encoder = CHAT.encoder(model=model, body=body, created=created)

    def feed(self, event: SseEvent) -> list[bytes]:
        return [f for e in self._decoder.feed(event) for f in self._encoder.frames(e, None)]

    def finish(self) -> list[bytes]:
        return self._encoder.end(None)

    def error_frame(self, message: str, *, code: str | None = None) -> bytes:
        return error_frame(message, code=code)


class ChatPair:
    def __init__(self, upstream: UpstreamFormat, clock: Callable[[], float]) -> None:
        self._upstream = upstream
        self._clock = clock

    def request(self, chat_body: dict[str, Any]) -> dict[str, Any]:
        return translate_request(CHAT, self._upstream, chat_body)

    def response(self, native: dict[str, Any], *, model: str) -> dict[str, Any]:
        answer = self._upstream.read_answer(native)
        return CHAT.answer_body(answer, model=model, created=int(self._clock()))

    def stream(self, *, model: str, include_usage: bool) -> ChatStream:
        return ChatStream(
            self._upstream, model=model, include_usage=include_usage, created=int(self._clock())
        )


ChatTranslator = ChatPair


class AnthropicTranslator(ChatPair):
    def __init__(self, *, clock: Callable[[], float]) -> None:
        super().__init__(MessagesUpstream(), clock)


class GeminiTranslator(ChatPair):
    def __init__(self, *, clock: Callable[[], float]) -> None:
        super().__init__(InteractionsUpstream(), clock)


def translator_for(provider: str, clock: Callable[[], float] = lambda: 0.0) -> ChatPair:
    pairs: dict[str, type[AnthropicTranslator | GeminiTranslator]] = {
        "anthropic": AnthropicTranslator,
        "gemini": GeminiTranslator,
    }
    return pairs[provider](clock=clock)


def chat_call_id(call_id: str, signature: str | None) -> str:
    return call_ids.join(call_id, signature)


def split_call_id(chat_id: str) -> tuple[str, str | None]:
    return call_ids.split(chat_id)
