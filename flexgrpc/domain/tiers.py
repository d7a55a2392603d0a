"""Tiers: what a caller asks for, what the router asks a provider for, what the provider served.

``SERVICE_TIER_VALUES`` is the one table of each provider's own ``service_tier`` strings; the
provider adapters build their upstream requests from it and read served tiers back through it,
so the rules here are the rules that run:

- the standard tier is OpenAI ``default``, Gemini ``standard``, Anthropic ``standard_only``;
- Gemini has no ``auto``; Anthropic has neither flex nor priority, so ``priority`` on Anthropic
  is sent as ``auto`` (SPEC §2.1).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from flexgrpc.domain.surfaces import Provider


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


class ServedTier(enum.StrEnum):
    """The tier a provider says it served, in the router's words (the proto's ServedTier)."""

    UNKNOWN = "unknown"
    STANDARD = "standard"
    FLEX = "flex"
    PRIORITY = "priority"
    OTHER = "other"


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


class StartWithinSource(enum.StrEnum):
    """Where a request's ``start_within`` came from (SPEC §2.1), most specific first.

    The values are what ``x-flexinference-start-within-source`` says and the ledger stores.
    """

    #: The request itself: the JSON body's ``start_within`` or the typed ``routing`` controls.
    BODY = "body"
    #: The ``x-flexinference-start-within`` request header (gRPC metadata).
    HEADER = "header"
    #: The default stored on the API key the request was made with.
    KEY_DEFAULT = "key_default"


#: The provider's own ``service_tier`` value for each tier it has. A tier missing here does not
#: exist on that provider.
SERVICE_TIER_VALUES: Final[Mapping[Provider, Mapping[UpstreamTier, str]]] = {
    Provider.OPENAI: {
        UpstreamTier.STANDARD: "default",
        UpstreamTier.FLEX: "flex",
        UpstreamTier.PRIORITY: "priority",
        UpstreamTier.AUTO: "auto",
    },
    Provider.GEMINI: {
        UpstreamTier.STANDARD: "standard",
        UpstreamTier.FLEX: "flex",
        UpstreamTier.PRIORITY: "priority",
    },
    Provider.ANTHROPIC: {
        UpstreamTier.STANDARD: "standard_only",
        UpstreamTier.AUTO: "auto",
    },
}

#: What each provider reports as the tier that served, in the router's words. Anthropic's
#: ``standard`` and ``priority`` are what its ``usage.service_tier`` says; OpenAI reports its
#: standard tier as ``default``. Anything else is ``ServedTier.OTHER``.
_SERVED: Final[Mapping[Provider, Mapping[str, ServedTier]]] = {
    Provider.OPENAI: {
        "default": ServedTier.STANDARD,
        "flex": ServedTier.FLEX,
        "priority": ServedTier.PRIORITY,
    },
    Provider.GEMINI: {
        "standard": ServedTier.STANDARD,
        "flex": ServedTier.FLEX,
        "priority": ServedTier.PRIORITY,
    },
    Provider.ANTHROPIC: {"standard": ServedTier.STANDARD, "priority": ServedTier.PRIORITY},
}


def tier_exists(provider: Provider, tier: UpstreamTier) -> bool:
    """Whether ``provider`` has ``tier`` at all (for some model)."""
    return tier in SERVICE_TIER_VALUES[provider]


def service_tier_value(provider: Provider, tier: UpstreamTier) -> str:
    """The provider's own ``service_tier`` string for ``tier`` (``ValueError`` if it has none:
    validation refuses such a request before any upstream call)."""
    try:
        return SERVICE_TIER_VALUES[provider][tier]
    except KeyError:
        raise ValueError(f"{provider.value} has no {tier.value} tier") from None


def upstream_tier_for(provider: Provider, tier: FixedTier) -> UpstreamTier | None:
    """The tier a fixed ``start_within`` asks ``provider`` for; ``None`` when it has no such
    tier (Gemini ``auto``). ``priority`` on Anthropic, which has no priority tier, is ``auto``."""
    if tier is FixedTier.DEFAULT:
        return UpstreamTier.STANDARD
    if tier is FixedTier.PRIORITY:
        wanted = UpstreamTier.AUTO if provider is Provider.ANTHROPIC else UpstreamTier.PRIORITY
    else:
        wanted = UpstreamTier.AUTO
    return wanted if tier_exists(provider, wanted) else None


def served_tier(provider: Provider, reported: str) -> ServedTier:
    """The router's name for the tier ``provider`` reported (``OTHER`` for anything it does not
    know, an empty report included: the answer came, from a tier it did not name)."""
    return _SERVED[provider].get(reported, ServedTier.OTHER)
