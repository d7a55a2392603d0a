"""The contract every wire format implements, and the frames a stream is made of."""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flexgrpc.providers.sse import format_event
from flexgrpc.sim.asks import PLAIN, Ask
from flexgrpc.sim.generation import Generation
from flexgrpc.sim.wire.errors import ErrorDialect


def dumps(value: Any) -> str:
    """Compact JSON, as the providers send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sse(payload: Any, event: str = "") -> bytes:
    return format_event(payload if isinstance(payload, str) else dumps(payload), event)


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE event of a stream, with the timing it needs.

    Frames with ``output=False`` are lifecycle acknowledgements sent at once; the first frame
    with ``output=True`` is the start, sent after the start delay; every later frame has
    ``output=True`` too.
    """

    data: bytes
    output: bool = True
    #: Token intervals to wait before sending (a token delta waits one; a reasoning step
    #: waits as many as it reasons).
    pace: int = 0
    #: A visible output-token delta (drops happen after a number of these).
    token: bool = False


class RequestError(ValueError):
    """The request is wrong in a way the provider answers 400 (``param`` names the field)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class WireFormat(abc.ABC):
    """One provider API surface: request checks, events, final JSON and error dialect."""

    surface: str
    provider: str
    path: str
    errors: ErrorDialect
    #: Wire ``service_tier`` value (``None`` = absent) -> canonical tier.
    tier_names: Mapping[str | None, str]
    #: Canonical served tier -> the value echoed back.
    served_names: Mapping[str, str]
    #: Header that carries the provider's request id, if it has one.
    request_id_header: str | None = None
    #: Header that carries the tier served (provider spelling), if the provider sends one.
    served_tier_header: str | None = None
    stream_content_type = "text/event-stream; charset=utf-8"
    #: Body fields that say how to deliver the answer, not what to answer: they do not count
    #: as prompt, so the same prompt streamed or not, on flex or standard, reports the same
    #: usage.
    delivery_fields: frozenset[str] = frozenset({"stream", "stream_options", "service_tier"})

    @abc.abstractmethod
    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool: ...

    def check_headers(self, headers: Mapping[str, str]) -> None:  # noqa: B027 - optional hook
        """Raise ``RequestError`` when a required header is missing (after auth)."""

    @abc.abstractmethod
    def check_body(self, body: Mapping[str, Any]) -> None:
        """Raise ``RequestError`` when the body lacks what the provider requires."""

    @abc.abstractmethod
    def max_tokens(self, body: Mapping[str, Any]) -> int | None: ...

    def stream_requested(self, body: Mapping[str, Any]) -> bool:
        return body.get("stream") is True

    def model_of(self, body: Mapping[str, Any]) -> Any:
        return body.get("model")

    def requested_tier(self, body: Mapping[str, Any]) -> Any:
        """The tier field exactly as sent (``None`` when absent)."""
        return body.get("service_tier")

    def ask(self, body: Mapping[str, Any]) -> Ask:
        """What the request asks of its answer (tools, tool choice, a JSON Schema)."""
        return PLAIN

    def prompt(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The part of the body that counts as prompt tokens."""
        return {k: v for k, v in body.items() if k not in self.delivery_fields}

    def canonical_tier(self, body: Mapping[str, Any]) -> str:
        value = body.get("service_tier")
        if isinstance(value, str | type(None)) and value in self.tier_names:
            return self.tier_names[value]
        allowed = ", ".join(repr(name) for name in self.tier_names if name is not None)
        raise RequestError(
            f"Invalid value for 'service_tier': {value!r}. Supported values are: {allowed}.",
            "service_tier",
        )

    def served_name(self, generation: Generation) -> str:
        return self.served_names.get(generation.served_tier, self.served_names["standard"])

    def request_id(self, generation: Generation) -> str:
        return f"req_{generation.hex_id(3, 24)}"

    @abc.abstractmethod
    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        """The events of a streamed answer, in order (generated lazily)."""

    @abc.abstractmethod
    def final_body(self, generation: Generation) -> dict[str, Any]:
        """The JSON of the same answer, not streamed."""


class TokenCounter(abc.ABC):
    """A count-tokens route: counts a prompt as the matching generation request counts it."""

    errors: ErrorDialect

    @abc.abstractmethod
    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool: ...

    def check_headers(self, headers: Mapping[str, str]) -> None:  # noqa: B027 - optional hook
        """Raise ``RequestError`` when a required header is missing (after auth)."""

    @abc.abstractmethod
    def prompt_request(self, body: Mapping[str, Any]) -> tuple[WireFormat, Mapping[str, Any]]:
        """The generation wire format and the body of the generation request whose prompt
        this is; raise ``RequestError`` when the body lacks what the provider requires."""

    @abc.abstractmethod
    def answer(self, tokens: int) -> dict[str, Any]: ...


def require_model(body: Mapping[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("you must provide a model parameter", "model")
