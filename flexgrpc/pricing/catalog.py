"""The price catalog: per model family and tier, exact token rates with their provenance.

``catalog.json`` beside this module ships the prices; an operator's override file (same format)
replaces whole families or adds new ones without code changes. Everything is validated when the
catalog loads; a ``CatalogError`` names the file, the entry and the field, and the server refuses
to start with it.

File format (prices are decimal **strings** of USD per 1M tokens, at most six decimals)::

    {"checked_on": "2026-11-27",
     "models": [
       {"provider": "openai", "family": "gpt-6-sol",
        "as_of": "2026-09-22", "source": "https://…provider page…", "evidence": "…",
        "effective_from": "2027-01-01", "effective_until": "2027-12-31",   (both optional)
        "tiers": {
          "standard": {"input": "2", "cached_input": "0.2", "cache_write": "2.5", "output": "10",
                       "long_context": {"above_prompt_tokens": 272000,
                                        "input": "4", "cached_input": "0.4", "output": "15"}},
          "flex": {…}, "priority": {…}}}]}

- Tiers are ``standard``, ``flex`` and ``priority``, and only those the provider has.
- ``cache_write`` is optional except for Anthropic (its 5-minute write); a request that wrote to
  the cache of a tier without a write price is unpriced.
- ``long_context`` is a band: when a request's prompt (uncached + cached + cache-write tokens) is
  *more than* ``above_prompt_tokens``, the band's rates apply to the whole request. A band written
  as ``{"above_prompt_tokens": N, "unpriced": true}`` says the provider charges differently above N
  but the price is not known: such requests are unpriced (no commission), never guessed.
- A family matches its dated snapshots exactly as ``flexgrpc.pricing.flex_models`` matches flex
  families (the provider's ``snapshot_suffix`` in ``flex_models.json``): ``gpt-6-sol-2026-09-22``
  is ``gpt-6-sol``; ``gpt-5.6`` is not ``gpt-5.6-sol``.
- ``effective_from`` / ``effective_until`` (inclusive, UTC days) let a family carry scheduled
  price changes; outside every period of its family a model is unpriced.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from flexgrpc.domain import Provider, TokenCounts, UpstreamTier, tier_exists
from flexgrpc.pricing.flex_models import FlexCatalog
from flexgrpc.pricing.money import (
    PicoUSD,
    PriceFormatError,
    format_usd_per_million,
    parse_usd_per_million,
)

CATALOG_FILE: Final = "catalog.json"
_FLEX_MODELS_FILE: Final = "flex_models.json"
_FAMILY_SHAPE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_RATE_FIELDS: Final = ("input", "cached_input", "cache_write", "output")
_REQUIRED_RATE_FIELDS: Final = ("input", "cached_input", "output")


class PriceTier(enum.StrEnum):
    """A tier with a price of its own."""

    STANDARD = "standard"
    FLEX = "flex"
    PRIORITY = "priority"


_UPSTREAM_TIER: Final[Mapping[PriceTier, UpstreamTier]] = {
    PriceTier.STANDARD: UpstreamTier.STANDARD,
    PriceTier.FLEX: UpstreamTier.FLEX,
    PriceTier.PRIORITY: UpstreamTier.PRIORITY,
}


class CatalogError(ValueError):
    """The catalog (shipped or override) is invalid; the message says where and why."""


@dataclass(frozen=True, slots=True)
class TokenRates:
    """Pico-USD per token for each token category."""

    input: PicoUSD
    cached_input: PicoUSD
    output: PicoUSD
    cache_write: PicoUSD | None = None

    def cost(self, usage: TokenCounts) -> PicoUSD | None:
        """The exact cost of ``usage`` in pico-USD; ``None`` if it wrote a cache with no price."""
        if usage.cache_write and self.cache_write is None:
            return None
        write = usage.cache_write * self.cache_write if self.cache_write is not None else 0
        return PicoUSD(
            usage.uncached_input * self.input
            + usage.cached_input * self.cached_input
            + write
            + usage.output * self.output
        )

    def describe(self) -> dict[str, str]:
        """The rates as the catalog writes them (USD per 1M tokens), for usage records."""
        return dict(_described(self))  # a copy: records own their prices


@functools.lru_cache(maxsize=1024)
def _described(rates: TokenRates) -> dict[str, str]:
    # Rates are few and immutable, and every priced request describes two of them.
    described = {
        "input": format_usd_per_million(rates.input),
        "cached_input": format_usd_per_million(rates.cached_input),
        "output": format_usd_per_million(rates.output),
    }
    if rates.cache_write is not None:
        described["cache_write"] = format_usd_per_million(rates.cache_write)
    return described


@dataclass(frozen=True, slots=True)
class LongContextBand:
    """Rates for prompts of more than ``above_prompt_tokens``; ``rates=None`` = not known."""

    above_prompt_tokens: int
    rates: TokenRates | None


BASE_BAND: Final = "base"
LONG_CONTEXT_BAND: Final = "long_context"


@dataclass(frozen=True, slots=True)
class TierPrices:
    rates: TokenRates
    long_context: LongContextBand | None = None

    def select(self, prompt_tokens: int) -> tuple[str, TokenRates | None]:
        """The band a prompt of ``prompt_tokens`` falls in, and its rates (``None``: unknown)."""
        band = self.long_context
        if band is not None and prompt_tokens > band.above_prompt_tokens:
            return LONG_CONTEXT_BAND, band.rates
        return BASE_BAND, self.rates


@dataclass(frozen=True, slots=True)
class ModelPrices:
    """One catalog entry: a model family's prices for one period, with provenance."""

    provider: Provider
    family: str
    as_of: dt.date
    source: str
    evidence: str
    tiers: Mapping[PriceTier, TierPrices]
    effective_from: dt.date | None = None
    effective_until: dt.date | None = None
    #: Which file the entry came from (the shipped catalog or the operator's override).
    origin: str = CATALOG_FILE

    def in_effect(self, day: dt.date) -> bool:
        return (self.effective_from is None or self.effective_from <= day) and (
            self.effective_until is None or day <= self.effective_until
        )


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """The rates that price one side (one tier) of one request."""

    entry: ModelPrices
    tier: PriceTier
    band: str
    #: ``None`` when the band's price is not known (the request is unpriced).
    rates: TokenRates | None

    def cost(self, usage: TokenCounts) -> PicoUSD | None:
        return self.rates.cost(usage) if self.rates is not None else None

    def record(self) -> dict[str, Any]:
        """What a usage record keeps, so that history never changes when prices do."""
        return {
            "tier": self.tier.value,
            "band": self.band,
            "usd_per_million_tokens": self.rates.describe() if self.rates is not None else None,
        }


def _snapshot_suffixes() -> dict[str, str]:
    """Each provider's dated-snapshot suffix, from ``flex_models.json``."""
    text = resources.files("flexgrpc.pricing").joinpath(_FLEX_MODELS_FILE).read_text("utf-8")
    providers = json.loads(text)["providers"]
    return {name: str(entry["snapshot_suffix"]) for name, entry in providers.items()}


def _family_matcher(families: Iterable[tuple[Provider, str]]) -> FlexCatalog:
    """Reuse the flex catalog's family matching (dated snapshots, exact family names)."""
    suffixes = _snapshot_suffixes()
    listed: dict[str, list[dict[str, Any]]] = {provider.value: [] for provider in Provider}
    for provider, family in sorted(set(families)):
        listed[provider.value].append(
            {"family": family, "evidence_date": None, "evidence": "priced", "source": "catalog"}
        )
    return FlexCatalog.from_json(
        {
            "checked_on": "",
            "providers": {
                name: {"snapshot_suffix": suffixes[name], "flex_families": entries}
                for name, entries in listed.items()
            },
        }
    )


class PriceCatalog:
    """Every priced family, looked up by provider, model id, tier, prompt size and day."""

    def __init__(self, entries: Iterable[ModelPrices], *, checked_on: str = "") -> None:
        self.checked_on = checked_on
        by_family: dict[tuple[Provider, str], list[ModelPrices]] = {}
        for entry in entries:
            by_family.setdefault((entry.provider, entry.family), []).append(entry)
        for periods in by_family.values():
            _check_periods(periods)
        self._entries = by_family
        self._matcher = _family_matcher(by_family)

    @classmethod
    def load(cls, override: Path | None = None) -> PriceCatalog:
        """The shipped catalog, with ``override``'s families replacing or adding to it."""
        text = resources.files("flexgrpc.pricing").joinpath(CATALOG_FILE).read_text("utf-8")
        shipped = parse_catalog(_json(text, CATALOG_FILE), origin=CATALOG_FILE)
        entries = list(shipped.entries)
        if override is not None:
            origin = str(override)
            try:
                override_text = override.read_text("utf-8")
            except OSError as error:
                raise CatalogError(
                    f"price catalog override {origin}: cannot read it: {error}"
                ) from error
            replacing = parse_catalog(_json(override_text, origin), origin=origin)
            replaced = {(entry.provider, entry.family) for entry in replacing.entries}
            entries = [e for e in entries if (e.provider, e.family) not in replaced]
            entries += replacing.entries
        return cls(entries, checked_on=shipped.checked_on)

    @property
    def entries(self) -> tuple[ModelPrices, ...]:
        return tuple(entry for periods in self._entries.values() for entry in periods)

    def families(self, provider: Provider) -> tuple[str, ...]:
        return tuple(sorted(family for p, family in self._entries if p is provider))

    def family(self, provider: Provider, model: str) -> str | None:
        """The priced family ``model`` belongs to (a snapshot belongs to its base model)."""
        match = self._matcher.family_of(provider, model)
        return match.family if match is not None else None

    def metric_label(self, provider: str, model: str) -> str:
        """The bounded label a model is counted under in metrics: its priced family, or
        ``other`` (a caller could otherwise mint a series per made-up model name)."""
        try:
            return self.family(Provider(provider), model) or "other"
        except ValueError:
            return "other"

    def lookup(self, provider: Provider, model: str, *, on: dt.date) -> ModelPrices | None:
        """The entry pricing ``model`` on ``on``, or ``None`` when it has no price then."""
        match = self._matcher.family_of(provider, model)
        if match is None:
            return None
        for entry in self._entries.get((provider, match.family), ()):
            if entry.in_effect(on):
                return entry
        return None

    def quote(
        self,
        provider: Provider,
        model: str,
        tier: PriceTier,
        *,
        prompt_tokens: int,
        on: dt.date,
    ) -> PriceQuote | None:
        """The rates for ``tier`` at this prompt size, or ``None`` when the tier has no price."""
        entry = self.lookup(provider, model, on=on)
        prices = entry.tiers.get(tier) if entry is not None else None
        if entry is None or prices is None:
            return None
        band, rates = prices.select(prompt_tokens)
        return PriceQuote(entry=entry, tier=tier, band=band, rates=rates)


def _check_periods(periods: list[ModelPrices]) -> None:
    periods.sort(key=lambda entry: entry.effective_from or dt.date.min)
    for earlier, later in itertools.pairwise(periods):
        earlier_end = earlier.effective_until or dt.date.max
        later_start = later.effective_from or dt.date.min
        if later_start <= earlier_end:
            raise CatalogError(
                f"{later.origin}: {later.provider.value} {later.family!r} has price periods that "
                "overlap: give each entry of a family effective_from / effective_until dates that "
                "do not overlap"
            )


@dataclass(frozen=True, slots=True)
class ParsedCatalog:
    entries: tuple[ModelPrices, ...]
    checked_on: str


def _json(text: str, origin: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(f"price catalog {origin} is not valid JSON: {error}") from error


def parse_catalog(document: Any, *, origin: str) -> ParsedCatalog:
    """Validate a parsed catalog document; ``CatalogError`` names the entry and field at fault."""
    if not isinstance(document, Mapping):
        raise CatalogError(f"price catalog {origin}: the top level must be a JSON object")
    models = document.get("models")
    if not isinstance(models, list):
        raise CatalogError(f'price catalog {origin}: "models" must be a list of entries')
    entries = tuple(
        _parse_entry(item, where=f"price catalog {origin}, models[{index}]", origin=origin)
        for index, item in enumerate(models)
    )
    checked_on = document.get("checked_on", "")
    return ParsedCatalog(entries, str(checked_on))


_ENTRY_FIELDS: Final = frozenset(
    {"provider", "family", "as_of", "source", "evidence", "tiers"}
    | {"effective_from", "effective_until"}
)


def _parse_entry(item: Any, *, where: str, origin: str) -> ModelPrices:
    if not isinstance(item, Mapping):
        raise CatalogError(f"{where}: each entry must be a JSON object")
    family = item.get("family")
    provider_name = item.get("provider")
    if isinstance(family, str) and isinstance(provider_name, str):
        where = f"{where} ({provider_name} {family!r})"
    unknown = sorted(set(item) - _ENTRY_FIELDS)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(unknown)}")
    try:
        provider = Provider(str(provider_name))
    except ValueError:
        names = ", ".join(p.value for p in Provider)
        raise CatalogError(f"{where}: provider {provider_name!r} is not one of {names}") from None
    if not isinstance(family, str) or not _FAMILY_SHAPE.fullmatch(family):
        raise CatalogError(
            f"{where}: family must be a model id in lowercase letters, digits, '.', '-', '_' "
            f'(e.g. "gpt-6-sol"), not {family!r}'
        )
    for text_field in ("source", "evidence"):
        if not isinstance(item.get(text_field), str) or not item[text_field].strip():
            raise CatalogError(f"{where}: {text_field!r} must say where the prices come from")
    as_of = _date(item.get("as_of"), field="as_of", where=where)
    if as_of is None:
        raise CatalogError(f'{where}: as_of must be a date written "YYYY-MM-DD", not None')
    effective_from = _date(item.get("effective_from"), field="effective_from", where=where)
    effective_until = _date(item.get("effective_until"), field="effective_until", where=where)
    if effective_from and effective_until and effective_until < effective_from:
        raise CatalogError(f"{where}: effective_until is before effective_from")
    tiers = _parse_tiers(item.get("tiers"), provider=provider, where=where)
    return ModelPrices(
        provider=provider,
        family=family,
        as_of=as_of,
        source=item["source"],
        evidence=item["evidence"],
        tiers=tiers,
        effective_from=effective_from,
        effective_until=effective_until,
        origin=origin,
    )


def _parse_tiers(doc: Any, *, provider: Provider, where: str) -> dict[PriceTier, TierPrices]:
    if not isinstance(doc, Mapping) or not doc:
        raise CatalogError(f'{where}: "tiers" must be an object with at least one tier')
    tiers: dict[PriceTier, TierPrices] = {}
    for name, tier_doc in doc.items():
        try:
            tier = PriceTier(name)
        except ValueError:
            known = ", ".join(t.value for t in PriceTier)
            raise CatalogError(f"{where}: unknown tier {name!r} (tiers are {known})") from None
        if not tier_exists(provider, _UPSTREAM_TIER[tier]):
            raise CatalogError(f"{where}: {provider.value} has no {tier.value} tier to price")
        tiers[tier] = _parse_tier(tier_doc, provider=provider, where=f"{where}, tier {name!r}")
    return tiers


def _date(value: Any, *, field: str, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise CatalogError(f'{where}: {field} must be a date written "YYYY-MM-DD", not {value!r}')


def _parse_tier(doc: Any, *, provider: Provider, where: str) -> TierPrices:
    if not isinstance(doc, Mapping):
        raise CatalogError(f"{where}: a tier must be an object of prices")
    unknown = sorted(set(doc) - set(_RATE_FIELDS) - {"long_context"})
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(unknown)}")
    rates = _parse_rates(doc, provider=provider, where=where)
    band_doc = doc.get("long_context")
    if band_doc is None:
        return TierPrices(rates)
    band_where = f"{where}, long_context"
    if not isinstance(band_doc, Mapping):
        raise CatalogError(f"{band_where}: must be an object")
    threshold = band_doc.get("above_prompt_tokens")
    if type(threshold) is not int or threshold <= 0:
        raise CatalogError(
            f"{band_where}: above_prompt_tokens must be a positive whole number of tokens "
            f"(e.g. 272000), not {threshold!r}"
        )
    if band_doc.get("unpriced") is True:
        extra = sorted(set(band_doc) - {"above_prompt_tokens", "unpriced"})
        if extra:
            raise CatalogError(f"{band_where}: an unpriced band has no prices, found {extra}")
        return TierPrices(rates, LongContextBand(threshold, None))
    unknown = sorted(set(band_doc) - set(_RATE_FIELDS) - {"above_prompt_tokens"})
    if unknown:
        raise CatalogError(f"{band_where}: unknown field(s) {', '.join(unknown)}")
    band_rates = _parse_rates(band_doc, provider=provider, where=band_where)
    return TierPrices(rates, LongContextBand(threshold, band_rates))


def _parse_rates(doc: Mapping[str, Any], *, provider: Provider, where: str) -> TokenRates:
    required = list(_REQUIRED_RATE_FIELDS)
    if provider is Provider.ANTHROPIC:
        required.append("cache_write")
    missing = [name for name in required if name not in doc]
    if missing:
        raise CatalogError(f"{where}: missing price(s) {', '.join(missing)}")
    parsed: dict[str, PicoUSD] = {}
    for name in _RATE_FIELDS:
        if name in doc:
            try:
                parsed[name] = parse_usd_per_million(doc[name])
            except PriceFormatError as error:
                raise CatalogError(f"{where}, {name}: {error}") from None
    return TokenRates(
        input=parsed["input"],
        cached_input=parsed["cached_input"],
        output=parsed["output"],
        cache_write=parsed.get("cache_write"),
    )
