"""How a request ended: its outcome, token counts, cost, and the one record it leaves.

Every request leaves exactly one ``RequestRecord`` (SPEC §5), built once when the request ends,
from what it kept as it went. Money is integers in nano-USD (pico-USD for the exact cost before
its one rounding); ``None`` means "not known" (no price), never "free".
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from flexgrpc.domain.surfaces import Provider, ProviderRoute, Surface
from flexgrpc.domain.tiers import ServedTier, StartWithin


class RaceOutcome(enum.StrEnum):
    FLEX_WON = "flex_won"
    FELL_BACK = "fell_back"
    FREE_TIER = "free_tier"
    FAILED = "failed"
    CANCELED = "canceled"


class FallbackReason(enum.StrEnum):
    """Why a flex race was served on standard."""

    #: Flex did not start within the window.
    WINDOW_SPENT = "window_spent"
    #: The learned flex policy sent it to standard at once (flexgrpc.routing.flex_policy).
    FLEX_POLICY = "flex_policy"
    #: The organization's flex race slots were all taken and its limits say
    #: ``degrade_to_standard``: standard at once.
    FLEX_RACE_SLOTS = "flex_race_slots"


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """A request's usage as disjoint counts (all >= 0), each priced at its own rate, plus the
    reasoning part of ``output`` (SPEC §4: reasoning is billed as output)."""

    uncached_input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    #: Everything billed at the output rate, reasoning/thinking included.
    output: int = 0
    #: The part of ``output`` that was reasoning (0 when the provider does not say).
    reasoning: int = 0
    #: False when a count was missing or inconsistent: costs are best effort, no commission.
    complete: bool = True
    #: Input modalities other than text that the provider reported tokens for (``"audio"``,
    #: ``"image"``, …); ``None`` when it did not say. Only some models price them apart.
    input_modalities: frozenset[str] | None = frozenset()

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the request, as long-context price bands measure prompts."""
        return self.uncached_input + self.cached_input + self.cache_write

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output


#: No usage at all (a request that failed before any answer).
NO_TOKENS = TokenCounts(complete=False)


class CommissionReason(enum.StrEnum):
    """Why a request's commission is what it is (the first that applies, in this order)."""

    #: Flex won the race, was cheaper than standard, and both sides are priced: commission > 0.
    FLEX_SAVED = "flex_saved"
    #: Anthropic has no flex tier; routing Claude is free.
    ANTHROPIC = "anthropic"
    #: ``default``, ``priority`` or ``auto``: no race, nothing saved.
    FIXED_TIER = "fixed_tier"
    #: The race fell back (served on standard, or anything but flex).
    FELL_BACK = "fell_back"
    #: The model, tier or prompt band has no price in the catalog: fail closed.
    UNPRICED = "unpriced"
    #: The provider's usage block was missing or inconsistent: the saving is not proven.
    INCOMPLETE_USAGE = "incomplete_usage"
    #: Flex cost the same as (or more than) standard would have.
    FLEX_NOT_CHEAPER = "flex_not_cheaper"


def _no_prices() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Cost:
    """The money of one request (SPEC §4): actual, standard, savings, commission, and why."""

    reason: CommissionReason
    actual_nano_usd: int | None = None
    standard_nano_usd: int | None = None
    savings_nano_usd: int = 0
    commission_nano_usd: int = 0
    #: Exact costs before the one rounding to nano-USD (kept for audits and tests).
    actual_pico_usd: int | None = None
    standard_pico_usd: int | None = None
    #: The catalog entry and rates used, in the catalog's own decimal strings, kept with the
    #: record so history never changes when prices do.
    prices: Mapping[str, Any] = field(default_factory=_no_prices)

    @property
    def priced(self) -> bool:
        """Whether the actual cost is known."""
        return self.actual_nano_usd is not None

    @property
    def kept_nano_usd(self) -> int:
        """What the customer keeps of the savings."""
        return self.savings_nano_usd - self.commission_nano_usd


#: The cost of a request that was never priced (it failed before an answer started).
UNPRICED = Cost(CommissionReason.UNPRICED)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What one request did, from receipt to its end, whatever happened.

    ``model``, ``provider``, ``route`` and ``requested`` are empty (``""``/``None``) when the
    request failed before they were known (a body that did not validate).
    """

    request_id: str
    organization_id: str
    api_key_id: str
    surface: Surface
    create_time: dt.datetime
    complete_time: dt.datetime
    outcome: RaceOutcome
    model: str = ""
    provider: Provider | None = None
    route: ProviderRoute | None = None
    requested: StartWithin | None = None
    served_tier: ServedTier = ServedTier.UNKNOWN
    #: The provider's own word for the tier that served (``"default"``, ``"flex"``, …).
    provider_service_tier: str = ""
    flex_attempts: int = 0
    time_to_start_ms: int | None = None
    #: For a race that fell back: when, after receipt, the standard tier was dispatched.
    fallback_after_ms: float | None = None
    #: Why a race was served on standard; ``None`` when it was not (or there was no race).
    fallback_reason: FallbackReason | None = None
    tokens: TokenCounts = NO_TOKENS
    cost: Cost = UNPRICED
    #: The spec's error code; ``""`` for a request that was answered.
    error_code: str = ""

    @property
    def raced(self) -> bool:
        """Whether the request asked for a flex race (a ``start_within`` window)."""
        return self.requested is not None and self.requested.is_race

    @property
    def create_day(self) -> str:
        return self.create_time.astimezone(dt.UTC).date().isoformat()
