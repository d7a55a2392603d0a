"""What a wire format offers to translation, on each side of the router.

A **caller format** (a surface a caller speaks) reads a request into the intermediate form and
writes answers from it: a stream ``Encoder`` (intermediate events → the caller's frames) and a
non-streamed body. An **upstream format** (the API the router speaks to a provider when the
caller's surface is not that provider's own) writes the native request from the intermediate
form and reads its answer back: a stream ``Decoder`` (native events → intermediate events) and
a whole-answer reader.
"""

from __future__ import annotations

from typing import Any, Protocol

from flexgrpc.providers.presenting import CostView
from flexgrpc.providers.sse import SseEvent
from flexgrpc.providers.translate.ir import Answer, Event, Feature, Request


class Encoder(Protocol):
    """One stream's caller frames. Stateful: one per answer."""

    def frames(self, event: Event, cost: CostView | None) -> list[bytes]:
        """The caller's frames for one intermediate event; ``cost`` (when the caller asked for
        it) goes on the frame that carries the final usage."""
        ...

    def end(self, cost: CostView | None) -> list[bytes]:
        """After the upstream ended: closing frames (Chat's ``[DONE]``), or an in-band error
        when no ``Finished`` came (a truncated answer must never look complete)."""
        ...

    def error_frame(self, code: str, message: str) -> bytes:
        """An in-band error in the caller's stream shape, for a stream that broke in transit."""
        ...


class CallerFormat(Protocol):
    """A surface as a caller speaks it."""

    #: The surface's name in messages (``"Chat Completions"``).
    name: str

    def read_request(self, body: dict[str, Any], *, target: str) -> Request:
        """The caller's body (router fields already removed) in the intermediate form.
        ``target`` names the provider reached, for refusals (``unsupported_feature``)."""
        ...

    def field_of(self, feature: Feature) -> str:
        """The request field of this surface that asks for ``feature``."""
        ...

    def encoder(self, *, model: str, body: dict[str, Any], created: int) -> Encoder:
        """A stream encoder for an answer to ``body`` (a caller's stream options live there)."""
        ...

    def answer_body(self, answer: Answer, *, model: str, created: int) -> dict[str, Any]:
        """The caller's non-streamed answer."""
        ...


class Decoder(Protocol):
    """One upstream stream read into intermediate events. Stateful: one per stream."""

    def feed(self, event: SseEvent) -> list[Event]: ...


class UpstreamFormat(Protocol):
    """A provider API as the router speaks it on a caller's behalf."""

    #: The provider reached, in messages (``"Anthropic (claude-*)"``).
    target: str

    def write_request(self, request: Request) -> dict[str, Any]:
        """The native body, without ``stream`` and ``service_tier`` (the adapter sets them).
        Raises ``Inexpressible`` for what this API cannot express."""
        ...

    def decoder(self) -> Decoder: ...

    def read_answer(self, native: dict[str, Any]) -> Answer:
        """The provider's non-streamed JSON (as its reader assembled it) in the intermediate
        form."""
        ...
