"""Reading an upstream answer in the provider's own wire format.

An ``UpstreamReader`` follows one upstream stream: it classifies each event (lifecycle / output /
terminal / error) so the race can tell when generation **started** (SPEC §3.2), remembers the
served tier and the usage block, and assembles the provider's non-streamed JSON answer from the
events. It knows nothing of the caller: what the caller receives is a ``Presenter``'s job.

A fixed tier needs no start detection, so a caller's non-streamed request on one goes upstream
non-streamed and its answer, the provider's own bytes, is read by a ``WholeAnswerReader``.
"""

from __future__ import annotations

import abc
import enum
import json
from collections.abc import Callable
from typing import Any

from flexgrpc.providers.sse import SseEvent


class EventKind(enum.Enum):
    #: An acknowledgement or bookkeeping event: generation has not started.
    LIFECYCLE = "lifecycle"
    #: The event carries output (a delta, or an output item being added): generation started.
    OUTPUT = "output"
    #: The stream's last event (the answer is complete).
    TERMINAL = "terminal"
    #: The provider reports a failure inside the stream.
    ERROR = "error"


class UpstreamReader(abc.ABC):
    """Follows one upstream answer; ``feed`` each event in order."""

    def __init__(self) -> None:
        #: The provider's own word for the tier that serves (``None`` until it says).
        self.served_tier: str | None = None
        #: The provider's usage block, as sent.
        self.usage: dict[str, Any] | None = None
        #: The final usage block has been seen (the request can be priced now).
        self.usage_final = False
        #: The terminal event has been seen: the answer is complete.
        self.finished = False

    @abc.abstractmethod
    def feed(self, event: SseEvent) -> EventKind:
        """Take the next event; say what it is."""

    @abc.abstractmethod
    def answer(self) -> dict[str, Any]:
        """The provider's non-streamed JSON answer, once ``finished``."""

    def answer_bytes(self) -> bytes:
        """``answer`` encoded, as the provider would have sent it."""
        return json.dumps(self.answer(), ensure_ascii=False).encode()


#: Reads the served tier and the usage block out of a provider's non-streamed answer.
AnswerFields = Callable[[dict[str, Any]], tuple[str | None, dict[str, Any] | None]]


class WholeAnswerReader(UpstreamReader):
    """Reads a non-streamed answer, which arrives as one event holding the provider's body."""

    def __init__(self, fields: AnswerFields) -> None:
        super().__init__()
        self._fields = fields
        self._body = b""

    def feed(self, event: SseEvent) -> EventKind:
        self._body = event.raw
        tier, self.usage = self._fields(event_json(event))
        self.served_tier = tier or self.served_tier
        self.finished = self.usage_final = True
        return EventKind.TERMINAL

    def answer(self) -> dict[str, Any]:
        return event_json(SseEvent("", self._body.decode(errors="replace"), self._body))

    def answer_bytes(self) -> bytes:
        return self._body  # the provider's bytes, unchanged


def event_json(event: SseEvent) -> dict[str, Any]:
    """The event's data as a JSON object (``{}`` when it is not one, e.g. ``[DONE]``)."""
    try:
        value = event.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
