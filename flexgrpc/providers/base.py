"""The adapter interface: one upstream wire format, seen through the eyes of the race.

An adapter builds the upstream request (``service_tier`` and ``stream`` set by the router),
classifies each upstream event (lifecycle / output / terminal / error) so the race can tell when
generation **started**, reads the served tier and the usage block, assembles the non-streamed
JSON from a stream, and shapes errors for its surface. It does no I/O of its own.

A fixed tier needs no start detection, so a caller's non-streamed request on one goes upstream
non-streamed (``stream=False`` below) and its answer is the provider's own bytes, read by a
``WholeAnswerTracker``: less work for the router and the provider, and nothing a stream would
need (some models stream only for verified organizations).
"""

from __future__ import annotations

import abc
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from flexgrpc.domain import (
    Provider,
    RouteJob,
    ServedTier,
    Surface,
    UpstreamTier,
    served_tier,
    service_tier_value,
)
from flexgrpc.providers.sse import SseEvent, format_event


class EventKind(enum.Enum):
    #: An acknowledgement or bookkeeping event: generation has not started.
    LIFECYCLE = "lifecycle"
    #: The event carries output (a delta, or an output item being added): generation started.
    OUTPUT = "output"
    #: The stream's last event (the answer is complete).
    TERMINAL = "terminal"
    #: The provider reports a failure inside the stream.
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class StreamTracker(abc.ABC):
    """Follows one upstream stream: classifies events, remembers the served tier and usage, and
    assembles the provider's non-streamed JSON answer from the events.
    """

    def __init__(self) -> None:
        self.served_tier: str | None = None
        self.usage: dict[str, Any] | None = None
        #: The final usage block has been seen (prices can be computed from ``usage`` now).
        self.usage_final = False
        self.finished = False
        #: Set by the router once the request is priced, when the caller asked for include_cost:
        #: the caller's usage-bearing event then carries it as ``usage.cost``.
        self.cost: dict[str, Any] | None = None

    @abc.abstractmethod
    def feed(self, event: SseEvent) -> EventKind:
        """Take the next event; say what it is."""

    @abc.abstractmethod
    def result(self) -> dict[str, Any]:
        """The non-streamed JSON answer, once ``finished``."""

    # What the caller receives. By default the provider's own bytes, unchanged; a tracker that
    # translates to another surface (Chat Completions in front of Anthropic, say) overrides these.

    def present(self, event: SseEvent) -> list[bytes]:
        """The caller's frames for one upstream event."""
        if self.cost is not None:
            rewritten = self.with_cost(event, self.cost)
            if rewritten is not None:
                return [rewritten]
        return [event.raw]

    def present_end(self) -> list[bytes]:
        """Frames after the last upstream event."""
        return []

    def present_result(self) -> dict[str, Any]:
        """The caller's non-streamed answer."""
        return self.result()

    def present_body(self) -> bytes:
        """The caller's non-streamed answer, encoded."""
        return json.dumps(self.present_result(), ensure_ascii=False).encode()

    def with_cost(self, event: SseEvent, cost: dict[str, Any]) -> bytes | None:
        """``event`` re-encoded with ``usage.cost`` when it carries the final usage, else None."""
        return None

    def error_frame(self, adapter: Adapter, code: str, message: str) -> bytes:
        """An in-band error event in the caller's surface shape."""
        return adapter.stream_error_frame(code, message)


class WholeAnswerTracker(StreamTracker):
    """Reads a non-streamed answer, which arrives as one event holding the provider's body."""

    def __init__(self, adapter: Adapter) -> None:
        super().__init__()
        self._adapter = adapter
        self._body = b""

    def feed(self, event: SseEvent) -> EventKind:
        self._body = event.raw
        tier, self.usage = self._adapter.read_answer(event_json(event))
        self.served_tier = tier or self.served_tier
        self.finished = self.usage_final = True
        return EventKind.TERMINAL

    def result(self) -> dict[str, Any]:
        return event_json(SseEvent("", self._body.decode(errors="replace"), self._body))

    def present_body(self) -> bytes:
        return self._body  # the provider's bytes, unchanged


class Adapter(abc.ABC):
    """One upstream wire format (provider + surface)."""

    provider: Provider
    surface: Surface
    path: str
    #: Whether a non-streamed caller on a fixed tier may be served by a non-streamed upstream
    #: call (false where the caller's surface is translated from a stream).
    whole_answers = True

    def tier_value(self, tier: UpstreamTier) -> str:
        """The provider's ``service_tier`` value for ``tier`` (the domain's one table)."""
        return service_tier_value(self.provider, tier)

    @abc.abstractmethod
    def auth_headers(self, api_key: str) -> dict[str, str]: ...

    def prepare_body(self, job: RouteJob, tier: UpstreamTier, stream: bool) -> dict[str, Any]:
        """The upstream body: the caller's with the router's ``service_tier``; streamed when
        ``stream`` (else the caller's own non-streamed body)."""
        body = dict(job.body)
        if stream:
            body["stream"] = True
        body["service_tier"] = self.tier_value(tier)
        return body

    def build(
        self, job: RouteJob, tier: UpstreamTier, api_key: str, *, stream: bool = True
    ) -> UpstreamRequest:
        body = _encode_body(self.prepare_body(job, tier, stream))
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **self.auth_headers(api_key),
        }
        return UpstreamRequest(self.path, headers, body)

    def read_answer(self, body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        """The served tier and the usage block of a non-streamed answer."""
        tier, usage = body.get("service_tier"), body.get("usage")
        return (
            tier if isinstance(tier, str) else None,
            usage if isinstance(usage, dict) else None,
        )

    def normalise_tier(self, provider_tier: str) -> ServedTier:
        """The router's name for the tier the provider reported."""
        return served_tier(self.provider, provider_tier)

    @abc.abstractmethod
    def tracker(self, job: RouteJob) -> StreamTracker:
        """A fresh tracker for one upstream stream of ``job``."""

    def served_tier_header(self, headers: Mapping[str, str]) -> str | None:
        """The served tier when the provider reports it in a response header."""
        return None

    @abc.abstractmethod
    def stream_error_frame(self, code: str, message: str) -> bytes:
        """An in-band error event in this surface's shape, for a stream that broke."""

    @abc.abstractmethod
    def is_capacity_error(self, status: int, body: bytes) -> bool:
        """Whether an HTTP error means the tier has no capacity now (worth retrying flex)."""


def _encode_body(body: dict[str, Any]) -> bytes:
    """The upstream request body as compact UTF-8 JSON. orjson is several times faster than the
    standard encoder and gives the same JSON here: the caller's body was parsed strictly (no
    NaN or Infinity, which orjson would write as null). It refuses integers beyond 64 bits,
    which JSON allows; those bodies take the standard encoder."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def reencode(event: SseEvent, data: dict[str, Any]) -> bytes:
    """``event`` with new JSON ``data``, keeping its name."""
    return format_event(json.dumps(data, ensure_ascii=False, separators=(",", ":")), event.event)


def event_json(event: SseEvent) -> dict[str, Any]:
    """The event's data as a JSON object (``{}`` when it is not one, e.g. ``[DONE]``)."""
    try:
        value = event.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
