"""Anthropic Messages: ``POST /v1/messages`` (``x-api-key``, ``anthropic-version`` required).

Stream: ``event: <type>`` + ``data: {"type": <type>, ...}``::

    message_start                                   (acknowledgement, at once)
    content_block_start (text)                      <- the start
    ping
    content_block_delta (text_delta) ...
    content_block_stop
    message_delta   (stop_reason end_turn|max_tokens, usage.output_tokens)
    message_stop

Request ``service_tier`` is ``auto`` (the default) or ``standard_only``; the tier served is
echoed as ``usage.service_tier`` (``standard`` or ``priority``). Usage reports cache reads and
writes outside ``input_tokens``. The non-streamed message is ``message_start.message`` with the
blocks' text, ``message_delta.delta`` and ``message_delta.usage`` applied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flexgrpc.sim.generation import Generation
from flexgrpc.sim.wire.base import Frame, RequestError, WireFormat, require_model, sse
from flexgrpc.sim.wire.errors import AnthropicErrors


class AnthropicMessages(WireFormat):
    surface = "messages"
    provider = "anthropic"
    path = "/v1/messages"
    errors = AnthropicErrors()
    tier_names: Mapping[str | None, str] = {
        None: "auto",
        "auto": "auto",
        "standard_only": "standard",
    }
    # Anthropic has no flex tier: a misconfigured "serve flex instead" is echoed as standard.
    served_names: Mapping[str, str] = {
        "standard": "standard",
        "priority": "priority",
        "flex": "standard",
    }
    request_id_header = "request-id"

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return bool(headers.get("x-api-key", "").strip())

    def check_headers(self, headers: Mapping[str, str]) -> None:
        if not headers.get("anthropic-version", "").strip():
            raise RequestError("anthropic-version: header is required")

    def check_body(self, body: Mapping[str, Any]) -> None:
        require_model(body)
        if self.max_tokens(body) is None:
            raise RequestError("Field required", "max_tokens")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("Field required (a non-empty list)", "messages")

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        value = body.get("max_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def request_id(self, generation: Generation) -> str:
        return f"req_01{generation.b62_id(3, 22)}"

    def _usage(self, generation: Generation, output_tokens: int) -> dict[str, Any]:
        cache_read = generation.cached_tokens
        cache_write = generation.cache_write_tokens
        return {
            "input_tokens": generation.input_tokens - cache_read - cache_write,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "output_tokens": output_tokens,
            "service_tier": self.served_name(generation),
        }

    def _message(
        self, generation: Generation, *, content: list[dict[str, Any]], final: bool
    ) -> dict[str, Any]:
        return {
            "id": f"msg_01{generation.b62_id(0, 22)}",
            "type": "message",
            "role": "assistant",
            "model": generation.model,
            "content": content,
            "stop_reason": self._stop_reason(generation) if final else None,
            "stop_sequence": None,
            "usage": self._usage(generation, generation.output_tokens if final else 1),
        }

    def _stop_reason(self, generation: Generation) -> str:
        return "max_tokens" if generation.truncated else "end_turn"

    def final_body(self, generation: Generation) -> dict[str, Any]:
        return self._message(
            generation, content=[{"type": "text", "text": generation.text}], final=True
        )

    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        def event(type_: str, **fields: Any) -> bytes:
            return sse({"type": type_, **fields}, type_)

        start = self._message(generation, content=[], final=False)
        yield Frame(event("message_start", message=start), output=False)
        yield Frame(
            event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        )
        yield Frame(event("ping"))
        for position, token in enumerate(generation.tokens):
            yield Frame(
                event("content_block_delta", index=0, delta={"type": "text_delta", "text": token}),
                pace=1 if position else 0,
                token=True,
            )
        yield Frame(event("content_block_stop", index=0))
        yield Frame(
            event(
                "message_delta",
                delta={"stop_reason": self._stop_reason(generation), "stop_sequence": None},
                usage={"output_tokens": generation.output_tokens},
            )
        )
        yield Frame(event("message_stop"))
