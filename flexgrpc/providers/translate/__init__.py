"""Cross-surface translation: a Chat Completions caller reaching a non-OpenAI model (SPEC §2).

One interface, one implementation per provider shape:

- ``translator_for("anthropic")`` — ``claude-*`` models, Anthropic Messages API.
- ``translator_for("gemini")`` — ``gemini-*`` models, Gemini Interactions API.

Use::

    translator = translator_for("anthropic")
    native_body = translator.request(chat_body)       # then set service_tier / stream on it
    chat = translator.response(native_json, model=chat_body["model"])

    stream = translator.stream(model=chat_body["model"], include_usage=True)
    for event in upstream_events:                     # flexgrpc.providers.sse.SseEvent
        send(stream.feed(event))
    send(stream.finish())                             # usage chunk, then data: [DONE]

``request`` raises ``FlexError("unsupported_surface_pair")`` for a Chat feature the provider
cannot honour (the message says what to change) and ``FlexError("invalid_argument")`` for a
malformed message. Chat fields the translation does not know pass through to the native body.

A non-streamed Chat caller served from an upstream stream (as the flex race always is) gets
``response`` of the native answer its provider's reader assembled from that stream.
"""

from __future__ import annotations

from typing import Any, Protocol

from flexgrpc.providers.sse import SseEvent
from flexgrpc.providers.translate.anthropic import AnthropicTranslator
from flexgrpc.providers.translate.gemini import GeminiTranslator

__all__ = [
    "AnthropicTranslator",
    "ChatStream",
    "ChatTranslator",
    "GeminiTranslator",
    "translator_for",
]


class ChatStream(Protocol):
    """Stateful: one per upstream stream. Frames are ``b"data: {...}\\n\\n"`` chunks."""

    def feed(self, event: SseEvent) -> list[bytes]:
        """One native SSE event → zero or more ``chat.completion.chunk`` frames. A native error
        event yields the in-band error frame; nothing follows it."""
        ...

    def finish(self) -> list[bytes]:
        """After the upstream ended: the usage chunk (when ``include_usage``), then
        ``data: [DONE]``. If the upstream ended before its terminal event, an in-band error
        frame instead (a truncated answer must not look complete); nothing after an error."""
        ...

    def error_frame(self, message: str, *, code: str | None = None) -> bytes:
        """An in-band error in OpenAI's stream shape, for a stream that broke in transit."""
        ...


class ChatTranslator(Protocol):
    def request(self, chat_body: dict[str, Any]) -> dict[str, Any]:
        """A Chat Completions body → the provider's native body, without ``service_tier`` and
        ``stream`` (the caller sets those)."""
        ...

    def response(self, native: dict[str, Any], *, model: str) -> dict[str, Any]:
        """The provider's non-streamed JSON → a ``chat.completion`` object for ``model``."""
        ...

    def stream(self, *, model: str, include_usage: bool) -> ChatStream:
        """A fresh stream translator; ``include_usage`` is the caller's
        ``stream_options.include_usage``."""
        ...


def translator_for(provider: str) -> ChatTranslator:
    """The translator for ``"anthropic"`` or ``"gemini"``; ``KeyError`` for anything else."""
    if provider == "anthropic":
        return AnthropicTranslator()
    if provider == "gemini":
        return GeminiTranslator()
    raise KeyError(provider)
