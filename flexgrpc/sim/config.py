"""What the simulator does: ``SimConfig`` (per provider and tier) and delay distributions.

A configuration is plain data: frozen dataclasses that round-trip through JSON
(``to_dict`` / ``from_dict``), so tests can replace it at runtime over HTTP
(``PUT /_sim/config``) or in process (``Simulator.config = ...``).

Tiers are named canonically, whatever the provider calls them on the wire:

======== ============================= ======================= ====================
tier     OpenAI ``service_tier``        Anthropic               Gemini
======== ============================= ======================= ====================
flex     ``flex``                       (none)                  ``flex``
standard ``default``, ``scale``         ``standard_only``       ``standard``, absent
priority ``priority``                   (none)                  ``priority``
auto     ``auto``, absent               ``auto``, absent        (none)
======== ============================= ======================= ====================

The behaviour of a request is ``SimConfig.behavior(provider, tier)``: an entry in
``providers[provider][tier]`` wins, then ``tiers[tier]``; ``auto`` falls back to
``standard``; anything else to ``TierConfig()`` (answer at once, no faults).
"""

from __future__ import annotations

import dataclasses
import functools
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PROVIDERS = ("openai", "anthropic", "gemini")
TIERS = ("flex", "standard", "priority", "auto")
#: Tiers a request can be served on (``auto`` is a request, never a served tier).
SERVED_TIERS = ("flex", "standard", "priority")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)(ms|s|m)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0}
_DELAY_HELP = (
    "expected 'none', 'fixed:<d>', 'exp:<mean d>' or 'uniform:<d>-<d>', where <d> is a "
    "number with a unit ms, s or m (e.g. 'fixed:250ms', 'exp:3s', 'uniform:1s-20s')"
)

DelayKind = Literal["none", "fixed", "exp", "uniform"]


@dataclass(frozen=True, slots=True)
class DelaySpec:
    """A parsed delay distribution; ``sample`` draws seconds (before ``time_scale``)."""

    kind: DelayKind
    low: float = 0.0
    high: float = 0.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.low
        if self.kind == "exp":
            return rng.expovariate(1.0 / self.low) if self.low > 0 else 0.0
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        return 0.0

    @property
    def mean(self) -> float:
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        return self.low


def _duration(text: str, spec: str) -> float:
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"invalid delay spec {spec!r}: {text!r} is not a duration; {_DELAY_HELP}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@functools.lru_cache(maxsize=256)
def parse_delay(spec: str) -> DelaySpec:
    """Parse ``"none"``, ``"fixed:2s"``, ``"exp:3s"`` (mean), ``"uniform:1s-20s"``.

    Raises ``ValueError`` with a message that names the bad part and shows valid examples.
    """
    if not isinstance(spec, str):
        raise ValueError(f"invalid delay spec {spec!r}: not a string; {_DELAY_HELP}")
    text = spec.strip()
    if text == "none":
        return DelaySpec("none")
    kind, sep, arg = text.partition(":")
    if not sep:
        raise ValueError(f"invalid delay spec {spec!r}: missing '<kind>:'; {_DELAY_HELP}")
    if kind == "fixed":
        return DelaySpec("fixed", _duration(arg, spec))
    if kind == "exp":
        return DelaySpec("exp", _duration(arg, spec))
    if kind == "uniform":
        low_text, dash, high_text = arg.partition("-")
        if not dash:
            raise ValueError(
                f"invalid delay spec {spec!r}: uniform needs '<low>-<high>'; {_DELAY_HELP}"
            )
        low, high = _duration(low_text, spec), _duration(high_text, spec)
        if low > high:
            raise ValueError(f"invalid delay spec {spec!r}: low bound is above high bound")
        return DelaySpec("uniform", low, high)
    raise ValueError(f"invalid delay spec {spec!r}: unknown kind {kind!r}; {_DELAY_HELP}")


def _check_rate(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")


def _check_status(name: str, value: int | None, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an HTTP status {low}..{high}, got {value!r}")


@dataclass(frozen=True, slots=True)
class TierConfig:
    """How one tier of one provider behaves. Every field has a harmless default."""

    #: Share of requests refused for capacity before they start (OpenAI 429, Gemini 503,
    #: Anthropic 529 unless ``refusal_status`` says otherwise).
    refusal_rate: float = 0.0
    #: How long a refused request waits before the refusal is sent.
    refusal_delay: str = "none"
    refusal_status: int | None = None
    #: Queueing delay between the lifecycle acknowledgement and the first output event.
    start_delay: str = "none"
    #: Output tokens per second once started; 0 sends them all at once.
    token_rate: float = 0.0
    #: Visible output tokens; ``None`` uses ``SimConfig.default_output_tokens``. A smaller
    #: max-tokens in the request truncates (``length`` / ``max_tokens`` / ``incomplete``).
    output_tokens: int | None = None
    #: Share of requests answered with a server error (``error_status``) before they start.
    error_rate: float = 0.0
    error_status: int = 500
    #: Share of streams whose connection is dropped after some output, before the terminal
    #: event (non-streamed answers are cut off part-way through the body).
    drop_rate: float = 0.0
    #: Serve (and echo in ``service_tier``) this tier instead of the one asked for.
    serve_tier_instead: str | None = None
    #: ``Retry-After`` seconds sent with refusals and errors (none when ``None``).
    retry_after: int | None = None

    def __post_init__(self) -> None:
        _check_rate("refusal_rate", self.refusal_rate)
        _check_rate("error_rate", self.error_rate)
        _check_rate("drop_rate", self.drop_rate)
        parse_delay(self.refusal_delay)
        parse_delay(self.start_delay)
        _check_status("refusal_status", self.refusal_status, 400, 599)
        _check_status("error_status", self.error_status, 500, 599)
        if isinstance(self.token_rate, bool) or not isinstance(self.token_rate, int | float):
            raise ValueError(f"token_rate must be a number, got {self.token_rate!r}")
        if self.token_rate < 0:
            raise ValueError(f"token_rate must be >= 0 (0 = instant), got {self.token_rate!r}")
        if self.output_tokens is not None and (
            isinstance(self.output_tokens, bool)
            or not isinstance(self.output_tokens, int)
            or self.output_tokens < 1
        ):
            raise ValueError(
                f"output_tokens must be a positive integer, got {self.output_tokens!r}"
            )
        if self.serve_tier_instead is not None and self.serve_tier_instead not in SERVED_TIERS:
            raise ValueError(
                f"serve_tier_instead must be one of {', '.join(SERVED_TIERS)} or null, "
                f"got {self.serve_tier_instead!r}"
            )
        if self.retry_after is not None and (
            isinstance(self.retry_after, bool)
            or not isinstance(self.retry_after, int)
            or self.retry_after < 0
        ):
            raise ValueError(
                f"retry_after must be a whole number of seconds, got {self.retry_after!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "tier") -> TierConfig:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where} must be an object, got {data!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None


def _check_tier_name(tier: str) -> None:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; tiers are {', '.join(TIERS)}")


def _check_provider_name(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; providers are {', '.join(PROVIDERS)}")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The whole simulator configuration. Build it, or ``with_tier`` an existing one."""

    #: Every per-request random draw comes from ``(seed, request number)``.
    seed: int = 0
    #: Multiplies every delay (start, refusal, token pacing); 0.01 runs 100x faster.
    time_scale: float = 1.0
    default_output_tokens: int = 40
    #: Share of requests whose usage reports cached input tokens (Anthropic: cache reads;
    #: a further equal share reports cache writes).
    cached_share: float = 0.3
    #: Share of requests to reasoning models (OpenAI o*/gpt-5*, Gemini 2.5+/3) that reason:
    #: a reasoning item / thought step and nonzero reasoning tokens.
    reasoning_share: float = 0.5
    #: Behaviour per canonical tier, for every provider.
    tiers: Mapping[str, TierConfig] = field(default_factory=dict)
    #: Per-provider overrides: ``providers["gemini"]["flex"]`` replaces ``tiers["flex"]``.
    providers: Mapping[str, Mapping[str, TierConfig]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if (
            isinstance(self.time_scale, bool)
            or not isinstance(self.time_scale, int | float)
            or self.time_scale < 0
        ):
            raise ValueError(f"time_scale must be a number >= 0, got {self.time_scale!r}")
        if (
            isinstance(self.default_output_tokens, bool)
            or not isinstance(self.default_output_tokens, int)
            or self.default_output_tokens < 1
        ):
            raise ValueError(
                "default_output_tokens must be a positive integer, "
                f"got {self.default_output_tokens!r}"
            )
        _check_rate("cached_share", self.cached_share)
        _check_rate("reasoning_share", self.reasoning_share)
        for tier, behavior in self.tiers.items():
            _check_tier_name(tier)
            if not isinstance(behavior, TierConfig):
                raise ValueError(f"tiers[{tier!r}] must be a TierConfig")
        for provider, tiers in self.providers.items():
            _check_provider_name(provider)
            for tier, behavior in tiers.items():
                _check_tier_name(tier)
                if not isinstance(behavior, TierConfig):
                    raise ValueError(f"providers[{provider!r}][{tier!r}] must be a TierConfig")

    def behavior(self, provider: str, tier: str) -> TierConfig:
        """The behaviour of ``tier`` requests to ``provider`` (see the module docstring)."""
        for name in (tier, "standard") if tier == "auto" else (tier,):
            found = self.providers.get(provider, {}).get(name) or self.tiers.get(name)
            if found is not None:
                return found
        return TierConfig()

    def with_tier(self, tier: str, provider: str | None = None, **changes: Any) -> SimConfig:
        """A copy where ``tier`` (of ``provider``, or of every provider) has ``changes``.

        ``SimConfig(seed=7).with_tier("flex", refusal_rate=1.0)`` refuses every flex request.
        The changes apply on top of what that tier does now (``auto`` starts from
        ``standard`` when it has no entry of its own).
        """
        _check_tier_name(tier)
        if provider is None:
            base = self.tiers.get(tier) or (
                self.tiers.get("standard", TierConfig()) if tier == "auto" else TierConfig()
            )
            return dataclasses.replace(
                self, tiers={**self.tiers, tier: dataclasses.replace(base, **changes)}
            )
        _check_provider_name(provider)
        current = self.providers.get(provider, {})
        base = self.behavior(provider, tier)
        updated = {**current, tier: dataclasses.replace(base, **changes)}
        return dataclasses.replace(self, providers={**self.providers, provider: updated})

    def replace(self, **changes: Any) -> SimConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "time_scale": self.time_scale,
            "default_output_tokens": self.default_output_tokens,
            "cached_share": self.cached_share,
            "reasoning_share": self.reasoning_share,
            "tiers": {tier: behavior.to_dict() for tier, behavior in self.tiers.items()},
            "providers": {
                provider: {tier: behavior.to_dict() for tier, behavior in tiers.items()}
                for provider, tiers in self.providers.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimConfig:
        """Build from ``to_dict`` output (missing keys take their defaults; unknown keys fail)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"the configuration must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown configuration field(s): {', '.join(unknown)}")
        values = dict(data)
        tiers = values.pop("tiers", {}) or {}
        providers = values.pop("providers", {}) or {}
        if not isinstance(tiers, Mapping) or not isinstance(providers, Mapping):
            raise ValueError("'tiers' and 'providers' must be objects")
        for tier in tiers:
            _check_tier_name(tier)
        parsed_providers: dict[str, dict[str, TierConfig]] = {}
        for provider, provider_tiers in providers.items():
            _check_provider_name(provider)
            if not isinstance(provider_tiers, Mapping):
                raise ValueError(f"providers.{provider} must be an object")
            parsed: dict[str, TierConfig] = {}
            for tier, behavior in provider_tiers.items():
                _check_tier_name(tier)
                parsed[tier] = TierConfig.from_dict(behavior, f"providers.{provider}.{tier}")
            parsed_providers[provider] = parsed
        try:
            return cls(
                tiers={t: TierConfig.from_dict(b, f"tiers.{t}") for t, b in tiers.items()},
                providers=parsed_providers,
                **values,
            )
        except TypeError as exc:
            raise ValueError(str(exc)) from None
