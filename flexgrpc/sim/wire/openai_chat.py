"""OpenAI Chat Completions: ``POST /v1/chat/completions`` (``Authorization: Bearer``).

Stream: data-only ``chat.completion.chunk`` frames (no ``event:`` line)::

    {"choices":[{"delta":{"role":"assistant","content":"","refusal":null}, ...}]}   <- the start
    {"choices":[{"delta":{"content":"..."}, ...}]} ...
    {"choices":[{"delta":{},"finish_reason":"stop"|"length", ...}]}
    {"choices":[],"usage":{...}}          (only with stream_options.include_usage = true)
    data: [DONE]

Every chunk carries ``service_tier`` (the tier served: ``default``, ``flex``, ``priority``) and,
with ``include_usage``, ``"usage": null`` until the usage chunk. There are no acknowledgement
events: nothing is sent before the start. The non-streamed ``chat.completion`` is what the
chunks accumulate to (``message.refusal`` null, ``message.annotations`` empty).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flexgrpc.sim.generation import Generation
from flexgrpc.sim.wire.base import Frame, RequestError, WireFormat, require_model, sse
from flexgrpc.sim.wire.errors import OpenAIErrors
from flexgrpc.sim.wire.openai_responses import (
    OPENAI_SERVED,
    OPENAI_TIERS,
    bearer_key_present,
    openai_usage_counts,
)


def include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


class OpenAIChat(WireFormat):
    surface = "chat_completions"
    provider = "openai"
    path = "/v1/chat/completions"
    errors = OpenAIErrors()
    tier_names = OPENAI_TIERS
    served_names = OPENAI_SERVED
    request_id_header = "x-request-id"

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return bearer_key_present(headers)

    def check_body(self, body: Mapping[str, Any]) -> None:
        require_model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(
                "Missing required parameter: 'messages' (a non-empty array).", "messages"
            )

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        for name in ("max_completion_tokens", "max_tokens"):
            value = body.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    def _id(self, generation: Generation) -> str:
        return f"chatcmpl-{generation.b62_id(0, 29)}"

    def _fingerprint(self, generation: Generation) -> str:
        return f"fp_{generation.hex_id(1, 10)}"

    def _finish_reason(self, generation: Generation) -> str:
        return "length" if generation.truncated else "stop"

    def _usage(self, generation: Generation) -> dict[str, Any]:
        prompt, cached, completion, reasoning = openai_usage_counts(generation)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def final_body(self, generation: Generation) -> dict[str, Any]:
        return {
            "id": self._id(generation),
            "object": "chat.completion",
            "created": int(generation.created),
            "model": generation.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": generation.text,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": self._finish_reason(generation),
                }
            ],
            "usage": self._usage(generation),
            "service_tier": self.served_name(generation),
            "system_fingerprint": self._fingerprint(generation),
        }

    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        with_usage = include_usage(generation.body)
        head = {
            "id": self._id(generation),
            "object": "chat.completion.chunk",
            "created": int(generation.created),
            "model": generation.model,
            "service_tier": self.served_name(generation),
            "system_fingerprint": self._fingerprint(generation),
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            payload: dict[str, Any] = {**head, "choices": [choice]}
            if with_usage:
                payload["usage"] = None
            return sse(payload)

        yield Frame(chunk({"role": "assistant", "content": "", "refusal": None}))
        for position, token in enumerate(generation.tokens):
            # Reasoning happens out of sight, between the role chunk and the first content.
            pace = 1 if position else generation.reasoning_tokens
            yield Frame(chunk({"content": token}), pace=pace, token=True)
        yield Frame(chunk({}, self._finish_reason(generation)))
        if with_usage:
            yield Frame(sse({**head, "choices": [], "usage": self._usage(generation)}))
        yield Frame(sse("[DONE]"))
