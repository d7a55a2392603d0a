"""The genai-prices layer: pydantic's maintained price data as exact catalog entries.

``genai-prices`` lists, per provider, models with a match rule, standard prices (a list of
``ConditionalPrice`` when prices changed on a date), and ``price_variants`` selected by request
context (``{"service_tier": "flex"}``, ``{"service_tier": "priority"}``, …), each valid from a
start date. This module turns that into ``ModelPrices`` periods, exactly or not at all:

- Which genai-prices model a request's id is, is genai-prices' own rule
  (``Provider.find_model``, without its fallback to other providers). Standard prices apply to
  every id the rule matches; flex and priority variants only to the model's own id and its dated
  snapshots: an alias on the same row (``gpt-5-chat-latest`` on ``gpt-5``) is another API model,
  and the data does not say it has those tiers.
- Periods: every start date of a standard price or of a tier variant begins a period; each
  period's prices are what genai-prices itself resolves for that day (``ModelInfo.get_prices``,
  keys a variant leaves out keep the standard price, as genai-prices computes them).
- Keys: ``input_mtok`` → input, ``cache_read_mtok`` → cached input, ``cache_write_mtok`` → cache
  write (Anthropic's 5-minute write), ``output_mtok`` → output (reasoning included). A model
  without a cache-read or cache-write price has no price for those tokens (a request that used
  them is unpriced) rather than the input rate genai-prices would fall back to. Input modality
  keys (``input_audio_mtok``, …) make the text price hold for text input only. Per-call tool
  fees (``web_searches_kcount``, ``storage_searches_kcount``) and the 1-hour cache write are not
  token prices of the answer and are left out (the Anthropic normaliser already marks 1-hour
  writes incomplete).
- ``TieredPrices`` (a prompt-size cliff applying to the whole request) map to one long-context
  band when every tiered key shares one threshold. A tier variant whose key is flat where the
  standard price of that key is tiered does not say what it costs above the threshold: that
  band is unpriced.
- Fail closed, with a reason kept in ``GenaiPricesLayer.unpriced``: output priced by modality
  (image, audio or video output), time-of-day prices, several bands, unknown price keys, no
  input or output price (embeddings, speech, moderation, free models), and any price that is not
  an exact, non-negative decimal with at most six places per 1M tokens (``money.py``).

Prices are read from genai-prices' ``Decimal`` values through their exact decimal text; no float
is made, and nothing is divided.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from genai_prices import __version__ as GENAI_PRICES_VERSION
from genai_prices import types as gp

from flexgrpc.domain import Provider
from flexgrpc.pricing.catalog import (
    LayerInfo,
    LayerName,
    LongContextBand,
    ModelPrices,
    PriceTier,
    TierPrices,
    TokenRates,
    is_snapshot_of,
    provider_has_tier,
    snapshot_base,
)
from flexgrpc.pricing.money import PicoUSD, PriceFormatError, parse_usd_per_million

#: genai-prices provider ids of the providers the router reaches directly.
PROVIDER_IDS: Final[Mapping[Provider, str]] = {
    Provider.OPENAI: "openai",
    Provider.GEMINI: "google",
    Provider.ANTHROPIC: "anthropic",
}
_TIER_CONTEXT: Final[Mapping[PriceTier, str]] = {
    PriceTier.FLEX: "flex",
    PriceTier.PRIORITY: "priority",
}
_TOKEN_KEYS: Final = {
    "input_mtok": "input",
    "cache_read_mtok": "cached_input",
    "cache_write_mtok": "cache_write",
    "output_mtok": "output",
}
_INPUT_MODALITY_KEYS: Final = {
    "input_audio_mtok": "audio",
    "cache_audio_read_mtok": "audio",
    "input_image_mtok": "image",
    "cache_image_read_mtok": "image",
    "input_video_mtok": "video",
}
_OUTPUT_MODALITY_KEYS: Final = frozenset(
    {"output_audio_mtok", "output_image_mtok", "output_video_mtok"}
)
#: Prices of something other than the answer's tokens; the router's cost is the tokens' cost.
_LEFT_OUT_KEYS: Final = frozenset(
    {"web_searches_kcount", "storage_searches_kcount", "cache_write_1h_mtok"}
)
#: The first day periods are computed from (genai-prices' data starts later than this).
_EPOCH: Final = dt.date(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class Unpriced:
    """A genai-prices price the catalog does not use, and why (fail closed)."""

    provider: Provider
    model: str
    #: ``None``: the whole model; otherwise the tier (and band) left without a price.
    tier: PriceTier | None
    reason: str


class _Refused(Exception):
    """A price shape that cannot be mapped exactly."""


def _pico(key: str, value: Decimal) -> PicoUSD:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _Refused(f"{key} is {value!r}, not a finite decimal price")
    try:
        return parse_usd_per_million(format(value, "f"))
    except PriceFormatError as error:
        raise _Refused(f"{key}: {error}") from None


@dataclass(frozen=True, slots=True)
class _KeyPrice:
    base: PicoUSD
    #: (threshold, rate) of a prompt-size tier, if any.
    band: tuple[int, PicoUSD] | None


def _key_price(key: str, value: Decimal | gp.TieredPrices) -> _KeyPrice:
    if isinstance(value, gp.TieredPrices):
        if len(value.tiers) != 1:
            raise _Refused(f"{key} has {len(value.tiers)} prompt-size tiers; the catalog has one")
        tier = value.tiers[0]
        return _KeyPrice(_pico(key, value.base), (tier.start, _pico(key, tier.price)))
    return _KeyPrice(_pico(key, value), None)


def _price_keys(prices: gp.ModelPrice) -> dict[str, Decimal | gp.TieredPrices]:
    return {key: value for key, value in vars(prices).items() if value is not None}


def _check_keys(keys: Iterable[str]) -> None:
    known = _TOKEN_KEYS.keys() | _INPUT_MODALITY_KEYS.keys() | _LEFT_OUT_KEYS
    output_modalities = sorted(set(keys) & _OUTPUT_MODALITY_KEYS)
    if output_modalities:
        raise _Refused(
            f"prices output by modality ({', '.join(output_modalities)}), which the router does "
            "not measure"
        )
    unknown = sorted(set(keys) - known)
    if unknown:
        raise _Refused(f"has price keys the catalog does not map: {', '.join(unknown)}")


def _tier_prices(
    provider: Provider, prices: gp.ModelPrice, standard: gp.ModelPrice | None
) -> tuple[TierPrices, str | None]:
    """The tier's prices, and a note when its long-context band is left unpriced."""
    keys = _price_keys(prices)
    _check_keys(keys)
    missing = [key for key in ("input_mtok", "output_mtok") if key not in keys]
    if missing:
        raise _Refused(f"has no {' or '.join(missing)} price: not a text-generation price")
    if provider is Provider.ANTHROPIC and "cache_write_mtok" not in keys:
        raise _Refused("has no cache-write price, which every Anthropic entry needs")
    token = {
        _TOKEN_KEYS[key]: _key_price(key, value)
        for key, value in keys.items()
        if key in _TOKEN_KEYS
    }
    thresholds = {price.band[0] for price in token.values() if price.band is not None}
    if len(thresholds) > 1:
        raise _Refused(f"its prompt-size tiers start at different sizes {sorted(thresholds)}")
    separate = frozenset(m for key, m in _INPUT_MODALITY_KEYS.items() if key in keys)

    def rates(pick: Mapping[str, PicoUSD]) -> TokenRates:
        return TokenRates(
            input=pick["input"],
            cached_input=pick.get("cached_input"),
            output=pick["output"],
            cache_write=pick.get("cache_write"),
            separately_priced_input=separate,
        )

    base = rates({name: price.base for name, price in token.items()})
    standard_keys = _price_keys(standard) if standard is not None else {}
    flat_where_standard_tiers = {
        key: value.tiers[0].start
        for key, value in standard_keys.items()
        if key in _TOKEN_KEYS
        and isinstance(value, gp.TieredPrices)
        and value.tiers
        and not isinstance(keys.get(key), gp.TieredPrices)
    }
    if flat_where_standard_tiers:
        threshold = min(flat_where_standard_tiers.values())
        note = (
            f"no price above {threshold:,} prompt tokens: "
            f"{', '.join(sorted(flat_where_standard_tiers))} stay flat while the standard prices "
            "rise there"
        )
        return TierPrices(base, LongContextBand(threshold, None)), note
    if not thresholds:
        return TierPrices(base), None
    (threshold,) = thresholds
    band = rates(
        {name: (price.band[1] if price.band else price.base) for name, price in token.items()}
    )
    return TierPrices(base, LongContextBand(threshold, band)), None


def _variant_active(info: gp.ModelInfo, context: str, day: dt.datetime) -> bool:
    return any(
        variant.when == {"service_tier": context}
        and (variant.constraint is None or variant.constraint.active(day))
        for variant in info.price_variants or ()
    )


def _start_dates(info: gp.ModelInfo) -> list[dt.date]:
    """Every day a price of the model starts; raises for prices by time of day."""
    constraints: list[object] = []
    if isinstance(info.prices, list):
        constraints += [price.constraint for price in info.prices]
    constraints += [
        variant.constraint
        for variant in info.price_variants or ()
        if set(variant.when) == {"service_tier"}
    ]
    days: set[dt.date] = set()
    for constraint in constraints:
        if isinstance(constraint, gp.TimeOfDateConstraint):
            raise _Refused("its price depends on the time of day, which the catalog does not model")
        if isinstance(constraint, gp.StartDateConstraint):
            days.add(constraint.start_date)
    return sorted(days)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class _Converted:
    periods: tuple[ModelPrices, ...]
    unpriced: tuple[Unpriced, ...]


def _source(provider: gp.Provider, info: gp.ModelInfo) -> tuple[str, str]:
    comments = info.price_comments or provider.price_comments or ""
    url = next((word for word in comments.split() if word.startswith("https://")), None)
    pages = provider.pricing_urls or []
    source = (url or (pages[0] if pages else "genai-prices")).rstrip(".,;)")
    return source, comments or f"genai-prices data for {provider.id} {info.id}"


def _convert(
    provider: Provider, source_provider: gp.Provider, info: gp.ModelInfo, layer: LayerInfo
) -> _Converted:
    try:
        starts = _start_dates(info)
    except _Refused as refused:
        return _Converted((), (Unpriced(provider, info.id, None, str(refused)),))
    source, evidence = _source(source_provider, info)
    boundaries: list[dt.date | None] = [None, *starts]
    periods: list[ModelPrices] = []
    unpriced: list[Unpriced] = []
    for index, start in enumerate(boundaries):
        day = _midnight(start or _EPOCH)
        until = starts[index] - dt.timedelta(days=1) if index < len(starts) else None
        standard = info.get_prices(day)
        try:
            standard_prices, note = _tier_prices(provider, standard, None)
        except _Refused as refused:
            unpriced.append(Unpriced(provider, info.id, None, str(refused)))
            continue
        tiers: dict[PriceTier, TierPrices | None] = {PriceTier.STANDARD: standard_prices}
        for tier, context in _TIER_CONTEXT.items():
            if not provider_has_tier(provider, tier) or not _variant_active(info, context, day):
                continue
            try:
                prices, note = _tier_prices(
                    provider, info.get_prices(day, {"service_tier": context}), standard
                )
            except _Refused as refused:
                unpriced.append(Unpriced(provider, info.id, tier, str(refused)))
                continue
            tiers[tier] = prices
            if note is not None:
                unpriced.append(Unpriced(provider, info.id, tier, note))
        periods.append(
            ModelPrices(
                provider=provider,
                family=info.id,
                as_of=start,
                source=source,
                evidence=evidence,
                tiers=tiers,
                effective_from=start,
                effective_until=until,
                origin=layer.origin,
                layer=layer,
            )
        )
    return _Converted(tuple(_merge(periods)), tuple(dict.fromkeys(unpriced)))


def _merge(periods: Sequence[ModelPrices]) -> list[ModelPrices]:
    """Neighbouring periods with the same prices as one (a new web-search fee, say)."""
    merged: list[ModelPrices] = []
    for period in periods:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.tiers == period.tiers
            and last.effective_until is not None
            and period.effective_from == last.effective_until + dt.timedelta(days=1)
        ):
            merged[-1] = ModelPrices(
                provider=last.provider,
                family=last.family,
                as_of=last.as_of,
                source=last.source,
                evidence=last.evidence,
                tiers=last.tiers,
                effective_from=last.effective_from,
                effective_until=period.effective_until,
                origin=last.origin,
                layer=last.layer,
            )
        else:
            merged.append(period)
    return merged


def _standard_only(entry: ModelPrices) -> ModelPrices:
    return ModelPrices(
        provider=entry.provider,
        family=entry.family,
        as_of=entry.as_of,
        source=entry.source,
        evidence=entry.evidence,
        tiers={PriceTier.STANDARD: entry.tiers[PriceTier.STANDARD]},
        effective_from=entry.effective_from,
        effective_until=entry.effective_until,
        origin=entry.origin,
        layer=entry.layer,
    )


class GenaiPricesLayer:
    """The lowest price layer: genai-prices' data for OpenAI, Gemini and Anthropic."""

    def __init__(self, providers: Sequence[gp.Provider], info: LayerInfo) -> None:
        self.info = info
        self._sources: dict[Provider, gp.Provider] = {}
        self._periods: dict[tuple[Provider, str], tuple[ModelPrices, ...]] = {}
        self._aliased: dict[tuple[Provider, str], tuple[ModelPrices, ...]] = {}
        unpriced: list[Unpriced] = []
        by_id = {source.id: source for source in providers}
        for provider, source_id in PROVIDER_IDS.items():
            source = by_id.get(source_id)
            if source is None:
                continue
            self._sources[provider] = source
            for model in source.models:
                if provider is Provider.GEMINI and model.id.startswith("claude"):
                    continue  # Vertex AI's price of Claude, not a Gemini API model
                converted = _convert(provider, source, model, info)
                unpriced += converted.unpriced
                if converted.periods:
                    self._periods[(provider, model.id)] = converted.periods
                    self._aliased[(provider, model.id)] = tuple(
                        _standard_only(period) for period in converted.periods
                    )
        #: Every genai-prices price left out, and why.
        self.unpriced: tuple[Unpriced, ...] = tuple(unpriced)
        self._match = functools.lru_cache(maxsize=4096)(self._find)

    def models(self, provider: Provider) -> tuple[gp.ModelInfo, ...]:
        """genai-prices' models of ``provider``, priced or not."""
        source = self._sources.get(provider)
        return tuple(source.models) if source is not None else ()

    def _find(self, provider: Provider, model: str) -> tuple[str, bool] | None:
        """The genai-prices model ``model`` is, and whether it is that model itself (or a dated
        snapshot of it) rather than an alias on its row."""
        source = self._sources.get(provider)
        if source is None:
            return None
        info = source.find_model(model)
        if info is not None:
            return info.id, is_snapshot_of(provider, model, info.id)
        # A dated snapshot genai-prices does not list yet is still its model's.
        base = snapshot_base(provider, model)
        info = source.find_model(base) if base != model else None
        return (info.id, True) if info is not None and info.id == base else None

    def family(self, provider: Provider, model: str) -> str | None:
        found = self._match(provider, model)
        return found[0] if found is not None and (provider, found[0]) in self._periods else None

    def entry(self, provider: Provider, model: str, *, on: dt.date) -> ModelPrices | None:
        found = self._match(provider, model)
        if found is None:
            return None
        family, own = found
        periods = (self._periods if own else self._aliased).get((provider, family), ())
        return next((period for period in periods if period.in_effect(on)), None)

    def families(self, provider: Provider) -> tuple[str, ...]:
        return tuple(sorted(family for p, family in self._periods if p is provider))


@functools.cache
def bundled_layer() -> GenaiPricesLayer:
    """The data that ships inside the installed genai-prices package (converted once)."""
    from genai_prices.data import providers

    version = GENAI_PRICES_VERSION
    info = LayerInfo(
        LayerName.GENAI_PRICES, f"genai-prices@{version}", f"genai-prices {version} (bundled)"
    )
    return GenaiPricesLayer(providers, info)
