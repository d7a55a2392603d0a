"""The price catalog: per model family and tier, exact token rates with their provenance.

Prices come in layers, highest precedence first:

1. the operator's file (``FLEXGRPC_PRICE_CATALOG``),
2. the project's overlay, ``catalog.json`` beside this module (dated, sourced entries kept where
   they are the better evidence, or where ``genai-prices`` lacks a model or its flex row),
3. ``genai-prices``, pydantic's maintained price data (``flexgrpc.pricing.genai_layer``).

A quote for (model, tier, day) comes from the highest layer that has an entry for the model in
effect that day *and* prices that tier; a layer that writes a tier as ``null`` says "no price"
and stops the search (fail closed). Every quote names its layer and the layer's data version.
A model has a flex race exactly when some layer prices its flex tier on that day.

File format of the overlay and of an operator's file (prices are decimal **strings** of USD per
1M tokens, at most six decimals)::

    {"checked_on": "2026-11-27",
     "models": [
       {"provider": "openai", "family": "gpt-6-sol",
        "as_of": "2026-09-22", "source": "https://…provider page…", "evidence": "…",
        "effective_from": "2027-01-01", "effective_until": "2027-12-31",   (both optional)
        "tiers": {
          "standard": {"input": "2", "cached_input": "0.2", "cache_write": "2.5", "output": "10",
                       "long_context": {"above_prompt_tokens": 272000,
                                        "input": "4", "cached_input": "0.4", "output": "15"}},
          "flex": {…}, "priority": null}}]}

- Tiers are ``standard``, ``flex`` and ``priority``, and only those the provider has. A tier an
  entry leaves out is looked up in the layers below; ``null`` means it has no price.
- ``cache_write`` is optional except for Anthropic (its 5-minute write); a request that wrote to
  the cache of a tier without a write price is unpriced.
- ``separately_priced_input`` (optional, e.g. ``["audio"]``) names input modalities the provider
  prices at other rates than text: a request whose usage shows such tokens (or does not say) is
  unpriced, since the router prices every input token at the text rate.
- ``long_context`` is a band: when a request's prompt (uncached + cached + cache-write tokens) is
  *more than* ``above_prompt_tokens``, the band's rates apply to the whole request. A band written
  as ``{"above_prompt_tokens": N, "unpriced": true}`` says the provider charges differently above N
  but the price is not known: such requests are unpriced (no commission), never guessed.
- A family matches its dated snapshots (each provider's ``SNAPSHOT_SUFFIXES``):
  ``gpt-6-sol-2026-09-22`` is ``gpt-6-sol``; ``gpt-5.6`` is not ``gpt-5.6-sol``.
- ``effective_from`` / ``effective_until`` (inclusive, UTC days) let a family carry scheduled
  price changes; outside every period of its family a layer has no entry for the model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, Protocol

from flexgrpc.domain import Provider, TokenCounts, UpstreamTier, tier_exists
from flexgrpc.pricing.money import (
    PicoUSD,
    PriceFormatError,
    format_usd_per_million,
    parse_usd_per_million,
)

CATALOG_FILE: Final = "catalog.json"
_FAMILY_SHAPE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_RATE_FIELDS: Final = ("input", "cached_input", "cache_write", "output")
_REQUIRED_RATE_FIELDS: Final = ("input", "cached_input", "output")
#: Input modalities a provider may price apart from text (``separately_priced_input``).
MODALITIES: Final = ("audio", "image", "video")

#: Each provider's dated-snapshot suffix: ``o3-2025-04-16`` is a snapshot of ``o3``,
#: ``gemini-3.5-flash-001`` and ``gemini-3.5-flash-09-2026`` of ``gemini-3.5-flash``,
#: ``claude-haiku-4-5-20251001`` of ``claude-haiku-4-5``.
SNAPSHOT_SUFFIXES: Final[Mapping[Provider, str]] = {
    Provider.OPENAI: r"-[0-9]{4}-[0-9]{2}-[0-9]{2}",
    Provider.GEMINI: r"-[0-9]{3}|-[0-9]{2}-[0-9]{4}",
    Provider.ANTHROPIC: r"-[0-9]{8}",
}
_SNAPSHOT: Final = {
    provider: re.compile(rf"(?P<base>.+?)(?:{suffix})?")
    for provider, suffix in SNAPSHOT_SUFFIXES.items()
}


def snapshot_base(provider: Provider, model: str) -> str:
    """``model`` without its dated-snapshot suffix (``model`` itself when it has none)."""
    match = _SNAPSHOT[provider].fullmatch(model)
    return match["base"] if match is not None else model


def is_snapshot_of(provider: Provider, model: str, family: str) -> bool:
    """Whether ``model`` is ``family`` or one of its dated snapshots."""
    return model == family or snapshot_base(provider, model) == family


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


def provider_has_tier(provider: Provider, tier: PriceTier) -> bool:
    return tier_exists(provider, _UPSTREAM_TIER[tier])


class CatalogError(ValueError):
    """The catalog (shipped or override) is invalid; the message says where and why."""


@dataclass(frozen=True, slots=True)
class TokenRates:
    """Pico-USD per token for each token category; ``None``: that category has no price."""

    input: PicoUSD
    cached_input: PicoUSD | None
    output: PicoUSD
    cache_write: PicoUSD | None = None
    #: Input modalities priced apart from text (the router prices every input token as text).
    separately_priced_input: frozenset[str] = frozenset()

    def cost(self, usage: TokenCounts) -> PicoUSD | None:
        """The exact cost of ``usage`` in pico-USD; ``None`` if it used a category with no
        price (a cache write or read) or input of a modality priced apart from text."""
        if usage.cache_write and self.cache_write is None:
            return None
        if usage.cached_input and self.cached_input is None:
            return None
        if self.separately_priced_input and (
            usage.input_modalities is None or usage.input_modalities & self.separately_priced_input
        ):
            return None
        write = usage.cache_write * self.cache_write if self.cache_write is not None else 0
        read = usage.cached_input * self.cached_input if self.cached_input is not None else 0
        return PicoUSD(
            usage.uncached_input * self.input + read + write + usage.output * self.output
        )

    def describe(self) -> dict[str, Any]:
        """The rates as the catalog writes them (USD per 1M tokens), for usage records."""
        return dict(_described(self))  # a copy: records own their prices


@functools.lru_cache(maxsize=1024)
def _described(rates: TokenRates) -> dict[str, Any]:
    # Rates are few and immutable, and every priced request describes two of them.
    described: dict[str, Any] = {"input": format_usd_per_million(rates.input)}
    if rates.cached_input is not None:
        described["cached_input"] = format_usd_per_million(rates.cached_input)
    described["output"] = format_usd_per_million(rates.output)
    if rates.cache_write is not None:
        described["cache_write"] = format_usd_per_million(rates.cache_write)
    if rates.separately_priced_input:
        described["separately_priced_input"] = sorted(rates.separately_priced_input)
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


class LayerName(enum.StrEnum):
    """Where a price comes from, highest precedence first."""

    OPERATOR = "operator"
    OVERLAY = "overlay"
    GENAI_PRICES = "genai-prices"


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """A price layer as usage records name it."""

    name: LayerName
    #: The file or package it was read from: ``/etc/prices.json``, ``catalog.json``,
    #: ``genai-prices@0.2.3``.
    origin: str
    #: Which data: ``genai-prices 0.2.3 (bundled)``, a fetched file's digest, a file's digest.
    data_version: str

    def record(self) -> dict[str, str]:
        return {"layer": self.name.value, "origin": self.origin, "data_version": self.data_version}


@dataclass(frozen=True, slots=True)
class ModelPrices:
    """One catalog entry: a model family's prices for one period, with provenance."""

    provider: Provider
    family: str
    #: The day the price was read from its source; ``None`` when the source does not say.
    as_of: dt.date | None
    source: str
    evidence: str
    #: ``None`` for a tier: this entry says the tier has no price (lower layers are not asked).
    tiers: Mapping[PriceTier, TierPrices | None]
    effective_from: dt.date | None = None
    effective_until: dt.date | None = None
    #: Which file the entry came from (the shipped catalog or the operator's override).
    origin: str = CATALOG_FILE
    layer: LayerInfo | None = None

    def in_effect(self, day: dt.date) -> bool:
        return (self.effective_from is None or self.effective_from <= day) and (
            self.effective_until is None or day <= self.effective_until
        )

    def priced_tiers(self) -> tuple[PriceTier, ...]:
        return tuple(tier for tier in PriceTier if self.tiers.get(tier) is not None)


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
        entry = self.entry
        described: dict[str, Any] = {
            "tier": self.tier.value,
            "band": self.band,
            "usd_per_million_tokens": self.rates.describe() if self.rates is not None else None,
            "family": entry.family,
            "as_of": entry.as_of.isoformat() if entry.as_of is not None else None,
            "source": entry.source,
        }
        if entry.layer is not None:
            described.update(entry.layer.record())
        return described


class PriceLayer(Protocol):
    """One source of prices: the operator's file, the overlay, or genai-prices."""

    @property
    def info(self) -> LayerInfo: ...

    def entry(self, provider: Provider, model: str, *, on: dt.date) -> ModelPrices | None:
        """The entry pricing ``model`` on ``on`` (its tiers may be partial), or ``None``."""
        ...

    def family(self, provider: Provider, model: str) -> str | None:
        """The family this layer prices ``model`` as, whatever the day."""
        ...

    def families(self, provider: Provider) -> tuple[str, ...]:
        """Every family this layer knows for ``provider``."""
        ...


class FileLayer:
    """A layer read from a catalog file: families matched exactly or as dated snapshots."""

    def __init__(self, entries: Iterable[ModelPrices], info: LayerInfo) -> None:
        self.info = info
        by_family: dict[tuple[Provider, str], list[ModelPrices]] = {}
        for entry in entries:
            entry = dataclasses.replace(entry, layer=info)
            by_family.setdefault((entry.provider, entry.family), []).append(entry)
        for periods in by_family.values():
            _check_periods(periods)
        self._entries = by_family

    @property
    def entries(self) -> tuple[ModelPrices, ...]:
        return tuple(entry for periods in self._entries.values() for entry in periods)

    def family(self, provider: Provider, model: str) -> str | None:
        if (provider, model) in self._entries:
            return model
        base = snapshot_base(provider, model)
        return base if (provider, base) in self._entries else None

    def entry(self, provider: Provider, model: str, *, on: dt.date) -> ModelPrices | None:
        family = self.family(provider, model)
        if family is None:
            return None
        for entry in self._entries[(provider, family)]:
            if entry.in_effect(on):
                return entry
        return None

    def families(self, provider: Provider) -> tuple[str, ...]:
        return tuple(sorted(family for p, family in self._entries if p is provider))


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class PriceCatalog:
    """Every priced model, looked up by provider, model id, tier, prompt size and day."""

    def __init__(self, layers: Sequence[PriceLayer], *, checked_on: str = "") -> None:
        self.checked_on = checked_on
        self.layers = tuple(layers)

    @classmethod
    def of_entries(cls, entries: Iterable[ModelPrices], *, origin: str = "test") -> PriceCatalog:
        """A catalog of one file layer holding just ``entries`` (tests, tools)."""
        info = LayerInfo(LayerName.OVERLAY, origin, "inline")
        return cls([FileLayer(entries, info)])

    @classmethod
    def load(
        cls, override: Path | None = None, *, genai_prices: PriceLayer | None = None
    ) -> PriceCatalog:
        """The operator's ``override`` over the shipped overlay over ``genai_prices`` (the
        bundled genai-prices data when not given)."""
        # Imported here: the genai-prices layer builds on this module's types.
        from flexgrpc.pricing.genai_layer import bundled_layer

        text = resources.files("flexgrpc.pricing").joinpath(CATALOG_FILE).read_text("utf-8")
        shipped = parse_catalog(_json(text, CATALOG_FILE), origin=CATALOG_FILE)
        overlay = FileLayer(
            shipped.entries,
            LayerInfo(
                LayerName.OVERLAY,
                CATALOG_FILE,
                f"checked {shipped.checked_on or 'undated'}, {_digest(text)}",
            ),
        )
        layers: list[PriceLayer] = [overlay, genai_prices or bundled_layer()]
        if override is not None:
            origin = str(override)
            try:
                override_text = override.read_text("utf-8")
            except OSError as error:
                raise CatalogError(
                    f"price catalog override {origin}: cannot read it: {error}"
                ) from error
            replacing = parse_catalog(_json(override_text, origin), origin=origin)
            info = LayerInfo(LayerName.OPERATOR, origin, _digest(override_text))
            layers.insert(0, FileLayer(replacing.entries, info))
        return cls(layers, checked_on=shipped.checked_on)

    def family(self, provider: Provider, model: str) -> str | None:
        """The priced family ``model`` belongs to (a snapshot belongs to its base model)."""
        for layer in self.layers:
            family = layer.family(provider, model)
            if family is not None:
                return family
        return None

    def families(self, provider: Provider) -> tuple[str, ...]:
        """Every family some layer knows for ``provider``."""
        return tuple(sorted({f for layer in self.layers for f in layer.families(provider)}))

    def metric_label(self, provider: str, model: str) -> str:
        """The bounded label a model is counted under in metrics: its priced family, or
        ``other`` (a caller could otherwise mint a series per made-up model name)."""
        try:
            return self.family(Provider(provider), model) or "other"
        except ValueError:
            return "other"

    def lookup(self, provider: Provider, model: str, *, on: dt.date) -> ModelPrices | None:
        """The highest layer's entry for ``model`` on ``on``, or ``None`` when none has one."""
        for layer in self.layers:
            entry = layer.entry(provider, model, on=on)
            if entry is not None:
                return entry
        return None

    def tier_entry(
        self, provider: Provider, model: str, tier: PriceTier, *, on: dt.date
    ) -> ModelPrices | None:
        """The entry that decides ``tier`` for ``model`` on ``on`` (``None``: no price)."""
        if not provider_has_tier(provider, tier):
            return None
        for layer in self.layers:
            entry = layer.entry(provider, model, on=on)
            if entry is None or tier not in entry.tiers:
                continue
            return entry if entry.tiers[tier] is not None else None
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
        entry = self.tier_entry(provider, model, tier, on=on)
        prices = entry.tiers.get(tier) if entry is not None else None
        if entry is None or prices is None:
            return None
        band, rates = prices.select(prompt_tokens)
        return PriceQuote(entry=entry, tier=tier, band=band, rates=rates)

    def priced_tiers(self, provider: Provider, model: str, *, on: dt.date) -> tuple[PriceTier, ...]:
        """The tiers of ``model`` that have a price on ``on``."""
        return tuple(
            tier for tier in PriceTier if self.tier_entry(provider, model, tier, on=on) is not None
        )

    def has_flex(self, provider: Provider, model: str, *, on: dt.date | None = None) -> bool:
        """Whether ``model`` has a flex race on ``on`` (today, UTC, by default): some layer
        prices its flex tier."""
        day = on if on is not None else _today()
        return self.tier_entry(provider, model, PriceTier.FLEX, on=day) is not None

    def flex_families(self, provider: Provider, *, on: dt.date | None = None) -> tuple[str, ...]:
        """The families of ``provider`` with a flex price on ``on`` (today by default)."""
        day = on if on is not None else _today()
        return tuple(f for f in self.families(provider) if self.has_flex(provider, f, on=day))


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


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


def _parse_tiers(doc: Any, *, provider: Provider, where: str) -> dict[PriceTier, TierPrices | None]:
    """An entry's tiers; a tier written ``null`` has no price in this layer."""
    if not isinstance(doc, Mapping) or not doc:
        raise CatalogError(f'{where}: "tiers" must be an object with at least one tier')
    tiers: dict[PriceTier, TierPrices | None] = {}
    for name, tier_doc in doc.items():
        try:
            tier = PriceTier(name)
        except ValueError:
            known = ", ".join(t.value for t in PriceTier)
            raise CatalogError(f"{where}: unknown tier {name!r} (tiers are {known})") from None
        if not provider_has_tier(provider, tier):
            raise CatalogError(f"{where}: {provider.value} has no {tier.value} tier to price")
        tiers[tier] = (
            None
            if tier_doc is None
            else _parse_tier(tier_doc, provider=provider, where=f"{where}, tier {name!r}")
        )
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
    unknown = sorted(set(doc) - set(_RATE_FIELDS) - {"long_context", _SEPARATE_FIELD})
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(unknown)}")
    separate = _parse_modalities(doc.get(_SEPARATE_FIELD, []), where=where)
    rates = _parse_rates(doc, provider=provider, where=where, separate=separate)
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
    band_rates = _parse_rates(band_doc, provider=provider, where=band_where, separate=separate)
    return TierPrices(rates, LongContextBand(threshold, band_rates))


_SEPARATE_FIELD: Final = "separately_priced_input"


def _parse_modalities(value: Any, *, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(item in MODALITIES for item in value):
        raise CatalogError(
            f"{where}: {_SEPARATE_FIELD} must be a list of input modalities from "
            f'{", ".join(MODALITIES)} (e.g. ["audio"]), not {value!r}'
        )
    return frozenset(value)


def _parse_rates(
    doc: Mapping[str, Any], *, provider: Provider, where: str, separate: frozenset[str]
) -> TokenRates:
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
        separately_priced_input=separate,
    )
