"""OpenAI Responses: ``POST /v1/responses`` (``Authorization: Bearer``).

Stream: every frame is ``event: <type>`` + ``data: {"type", ..., "sequence_number"}``::

    response.created, response.in_progress                      (acknowledgements, at once)
    [response.output_item.added, response.output_item.done]     (reasoning item, reasoning models)
    response.output_item.added (message)                        <- the start
    response.content_part.added
    response.output_text.delta ...
    response.output_text.done
    response.content_part.done
    response.output_item.done
    response.completed          (response.incomplete when max_output_tokens cut it short)

No ``[DONE]`` sentinel. ``response.created``/``in_progress`` carry ``service_tier`` as requested
(``auto`` when absent); the terminal event and the non-streamed response carry the tier actually
served (``default``, ``flex``, ``priority``). The non-streamed body is exactly the terminal
event's ``response``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from flexgrpc.sim.generation import Generation
from flexgrpc.sim.wire.base import Frame, RequestError, WireFormat, require_model, sse
from flexgrpc.sim.wire.errors import OpenAIErrors


def bearer_key_present(headers: Mapping[str, str]) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


OPENAI_TIERS: Mapping[str | None, str] = {
    None: "auto",
    "auto": "auto",
    "default": "standard",
    "flex": "flex",
    "scale": "standard",
    "priority": "priority",
}
OPENAI_SERVED: Mapping[str, str] = {"standard": "default", "flex": "flex", "priority": "priority"}


def openai_usage_counts(generation: Generation) -> tuple[int, int, int, int]:
    """(input, cached, output incl. reasoning, reasoning)."""
    output = generation.output_tokens + generation.reasoning_tokens
    return generation.input_tokens, generation.cached_tokens, output, generation.reasoning_tokens


class OpenAIResponses(WireFormat):
    surface = "responses"
    provider = "openai"
    path = "/v1/responses"
    errors = OpenAIErrors()
    tier_names = OPENAI_TIERS
    served_names = OPENAI_SERVED
    request_id_header = "x-request-id"

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return bearer_key_present(headers)

    def check_body(self, body: Mapping[str, Any]) -> None:
        require_model(body)
        if "input" not in body:
            raise RequestError("Missing required parameter: 'input'.", "input")

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        value = body.get("max_output_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    # -- the answer -----------------------------------------------------------------------

    def _ids(self, generation: Generation) -> tuple[str, str, str]:
        return (
            f"resp_{generation.hex_id(0, 48)}",
            f"msg_{generation.hex_id(1, 48)}",
            f"rs_{generation.hex_id(2, 48)}",
        )

    def _response(
        self,
        generation: Generation,
        *,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        service_tier: str,
    ) -> dict[str, Any]:
        body = generation.body
        response_id = self._ids(generation)[0]
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": response_id,
            "object": "response",
            "created_at": int(generation.created),
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": generation.model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": service_tier,
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": body.get("metadata", {}),
        }

    def _usage(self, generation: Generation) -> dict[str, Any]:
        input_tokens, cached, output, reasoning = openai_usage_counts(generation)
        return {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output,
        }

    def _status(self, generation: Generation) -> str:
        return "incomplete" if generation.truncated else "completed"

    def _reasoning_item(self, generation: Generation) -> dict[str, Any]:
        return {"id": self._ids(generation)[2], "type": "reasoning", "summary": []}

    def _text_part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def _message_item(self, generation: Generation, *, done: bool) -> dict[str, Any]:
        return {
            "id": self._ids(generation)[1],
            "type": "message",
            "status": self._status(generation) if done else "in_progress",
            "content": [self._text_part(generation.text)] if done else [],
            "role": "assistant",
        }

    def _output(self, generation: Generation) -> list[dict[str, Any]]:
        output = [self._reasoning_item(generation)] if generation.reasoning_tokens else []
        return [*output, self._message_item(generation, done=True)]

    def final_body(self, generation: Generation) -> dict[str, Any]:
        return self._response(
            generation,
            status=self._status(generation),
            output=self._output(generation),
            usage=self._usage(generation),
            service_tier=self.served_name(generation),
        )

    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        sequence = itertools.count()

        def event(type_: str, **fields: Any) -> bytes:
            return sse({"type": type_, **fields, "sequence_number": next(sequence)}, type_)

        requested = generation.requested_tier or "auto"
        pending = self._response(
            generation, status="in_progress", output=[], usage=None, service_tier=requested
        )
        yield Frame(event("response.created", response=pending), output=False)
        yield Frame(event("response.in_progress", response=pending), output=False)

        index = 0
        if generation.reasoning_tokens:
            item = self._reasoning_item(generation)
            yield Frame(event("response.output_item.added", output_index=0, item=item))
            yield Frame(
                event("response.output_item.done", output_index=0, item=item),
                pace=generation.reasoning_tokens,
            )
            index = 1

        item_id = self._ids(generation)[1]
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        yield Frame(
            event(
                "response.output_item.added",
                output_index=index,
                item=self._message_item(generation, done=False),
            )
        )
        yield Frame(event("response.content_part.added", **where, part=self._text_part("")))
        for position, token in enumerate(generation.tokens):
            yield Frame(
                event("response.output_text.delta", **where, delta=token, logprobs=[]),
                pace=1 if position else 0,
                token=True,
            )
        text = generation.text
        yield Frame(event("response.output_text.done", **where, text=text, logprobs=[]))
        yield Frame(event("response.content_part.done", **where, part=self._text_part(text)))
        yield Frame(
            event(
                "response.output_item.done",
                output_index=index,
                item=self._message_item(generation, done=True),
            )
        )
        terminal = "response.incomplete" if generation.truncated else "response.completed"
        yield Frame(event(terminal, response=self.final_body(generation)))
