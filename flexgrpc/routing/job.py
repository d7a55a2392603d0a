"""What a validated request asks the router to do: the ``RouteJob`` and its parts.

Built once from the caller's body (and the typed controls of gRPC callers) by
``flexgrpc.routing.request``; read by the race and the provider adapters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Surface(enum.StrEnum):
    """The caller's wire format."""

    RESPONSES = "responses"
    CHAT_COMPLETIONS = "chat_completions"
    MESSAGES = "messages"
    INTERACTIONS = "interactions"


class Provider(enum.StrEnum):
    """Whose model it is (decides the upstream wire format and the provider key)."""

    OPENAI = "openai"
    GEMINI = "gemini"
    ANTHROPIC = "anthropic"


class Route(enum.StrEnum):
    """A way to reach a provider. Only the direct routes exist today."""

    OPENAI = "openai"
    GOOGLE = "google"
    ANTHROPIC = "anthropic"
    VERTEX = "vertex"
    BEDROCK = "bedrock"


class FixedTier(enum.StrEnum):
    """A ``start_within`` that asks for one tier, with no race."""

    DEFAULT = "default"
    PRIORITY = "priority"
    AUTO = "auto"


class UpstreamTier(enum.StrEnum):
    """The tier the router asks a provider for on one attempt."""

    STANDARD = "standard"
    FLEX = "flex"
    PRIORITY = "priority"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class StartWithin:
    """Exactly one of ``tier`` (no race) or ``window_ms`` (flex race, 5,000..600,000 ms)."""

    tier: FixedTier | None = None
    window_ms: int | None = None

    def __post_init__(self) -> None:
        if (self.tier is None) == (self.window_ms is None):
            raise ValueError("StartWithin needs exactly one of tier and window_ms")

    @property
    def is_race(self) -> bool:
        return self.window_ms is not None


class Backoff(enum.StrEnum):
    EXPONENTIAL = "exponential"
    LINEAR = "linear"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of the settled tier (1..5), before the first byte reached the caller."""

    count: int
    backoff: Backoff = Backoff.EXPONENTIAL
    jitter: bool = True


@dataclass(frozen=True, slots=True)
class RouteJob:
    """One validated request.

    ``body`` is the caller's JSON object with the router's own fields (``start_within``,
    ``provider``, ``retry``, ``include_cost``) removed and nothing else changed; adapters set
    ``service_tier`` (and ``stream``) on their copy when they build the upstream request.
    """

    request_id: str
    surface: Surface
    model: str
    provider: Provider
    routes: tuple[Route, ...]
    start_within: StartWithin
    stream: bool
    body: dict[str, Any]
    retry: RetryPolicy | None = None
    include_cost: bool = False
    #: ``time.monotonic()`` when the router received the request: the race window starts here.
    received_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
