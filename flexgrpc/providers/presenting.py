"""What the caller receives, in the caller's own surface.

A ``Presenter`` turns the upstream events (already read by an ``UpstreamReader``) into the
caller's frames, the upstream answer into the caller's non-streamed body, and a failure into the
surface's in-band error event. When the caller asked for ``include_cost``, the router passes the
cost in (``usage.cost``, SPEC §4) once the request is priced; a presenter never prices.

A native presenter relays the provider's bytes unchanged, except that the event carrying the
final usage gains ``usage.cost`` when a cost is given; a translating presenter (Chat Completions
in front of Anthropic, say) writes another surface's frames.
"""

from __future__ import annotations

import abc
import json
from typing import Any

from flexgrpc.providers.reading import UpstreamReader
from flexgrpc.providers.sse import SseEvent, format_event

#: ``usage.cost`` as a caller sees it: ``{"total_micro_usd": N | None, "currency": "USD"}``.
CostView = dict[str, Any]


class Presenter(abc.ABC):
    """One request's answer, as the caller's surface shows it."""

    @abc.abstractmethod
    def frames(self, event: SseEvent, cost: CostView | None) -> list[bytes]:
        """The caller's frames for one upstream event (``cost``: to show on the usage event)."""

    def end_frames(self, cost: CostView | None) -> list[bytes]:
        """Frames after the last upstream event."""
        return []

    @abc.abstractmethod
    def body(self, reader: UpstreamReader) -> bytes:
        """The caller's non-streamed answer, from the finished upstream answer."""

    @abc.abstractmethod
    def error_frame(self, code: str, message: str) -> bytes:
        """An in-band error event in the caller's surface, for a stream that broke."""


class NativePresenter(Presenter):
    """The caller speaks the provider's own surface: its bytes are relayed unchanged."""

    def frames(self, event: SseEvent, cost: CostView | None) -> list[bytes]:
        if cost is not None:
            rewritten = self.with_cost(event, cost)
            if rewritten is not None:
                return [rewritten]
        return [event.raw]

    def body(self, reader: UpstreamReader) -> bytes:
        return reader.answer_bytes()

    @abc.abstractmethod
    def with_cost(self, event: SseEvent, cost: CostView) -> bytes | None:
        """``event`` re-encoded with ``usage.cost`` when it carries the final usage, else None."""


def reencode(event: SseEvent, data: dict[str, Any]) -> bytes:
    """``event`` with new JSON ``data``, keeping its name."""
    return format_event(json.dumps(data, ensure_ascii=False, separators=(",", ":")), event.event)
