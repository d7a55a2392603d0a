"""Model ids: whose model it is, which tiers its provider has, whether it has a flex tier.

The provider comes from the id's prefix (SPEC §2): ``gpt-*``, ``chatgpt-*``, ``o1``, ``o3``,
``o4-mini`` (each with its ``-*`` variants) → OpenAI; ``gemini-*`` → Gemini; ``claude-*`` →
Anthropic. Ids are lowercase ASCII and case-sensitive, as the providers' are; anything else is
``unsupported_model``.

Which models have a flex tier changes every few months, so it is data, not code:
``flex_models.json`` beside this module lists flex *families* per provider with the source and date
of the evidence. A dated snapshot (``o3-2025-04-16``, ``gpt-5-mini-2025-08-07``) belongs to its
family; a sibling model does not (``o3-mini`` and ``o3-pro`` are not ``o3``). Unlisted means no
flex: the router never races, and never bills a saving, on a tier it cannot show exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from flexgrpc.errors import FlexError
from flexgrpc.routing.job import FixedTier, Provider, Route, UpstreamTier
from flexgrpc.routing.start_within import preview_value

MODEL_FIELD: Final = "model"

#: (prefix rule, provider), in the order error messages list them. A rule ending in ``-`` is a
#: plain prefix; the o-series rules match the name itself or the name followed by ``-`` (so
#: ``o3`` and ``o3-2025-04-16`` are OpenAI, ``o3x`` is not).
_PROVIDER_RULES: Final[tuple[tuple[str, Provider], ...]] = (
    ("gpt-", Provider.OPENAI),
    ("chatgpt-", Provider.OPENAI),
    ("o1", Provider.OPENAI),
    ("o3", Provider.OPENAI),
    ("o4-mini", Provider.OPENAI),
    ("gemini-", Provider.GEMINI),
    ("claude-", Provider.ANTHROPIC),
)

#: The accepted ids, as ``unsupported_model`` messages list them.
ACCEPTED_MODEL_IDS: Final = (
    "gpt-*, chatgpt-*, o1, o1-*, o3, o3-*, o4-mini, o4-mini-* (OpenAI); gemini-* (Gemini); "
    "claude-* (Anthropic)"
)

#: The provider's own ``service_tier`` value for each tier it has (SPEC §2.1). A tier missing
#: here does not exist on that provider: Gemini has no ``auto``, Anthropic no flex or priority.
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

#: The route that reaches each provider directly, on the organization's own key.
DIRECT_ROUTES: Final[Mapping[Provider, Route]] = {
    Provider.OPENAI: Route.OPENAI,
    Provider.GEMINI: Route.GOOGLE,
    Provider.ANTHROPIC: Route.ANTHROPIC,
}

#: Whose models each route can serve.
ROUTE_PROVIDERS: Final[Mapping[Route, Provider]] = {
    Route.OPENAI: Provider.OPENAI,
    Route.GOOGLE: Provider.GEMINI,
    Route.ANTHROPIC: Provider.ANTHROPIC,
    Route.VERTEX: Provider.GEMINI,
    Route.BEDROCK: Provider.ANTHROPIC,
}

#: Routes that are designed but not built yet (SPEC §2.2): asking for one is a clear 400.
PLANNED_ROUTES: Final = frozenset({Route.VERTEX, Route.BEDROCK})

#: Every provider's ids are short, lowercase ASCII; anything else cannot name a model, and keeping
#: it out means an id is always safe to log, to store and to put in an upstream URL path.
_MODEL_ID_SHAPE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")

_CATALOG_FILE: Final = "flex_models.json"


def provider_for_model(model: str) -> Provider:
    """The provider whose model ``model`` is; ``FlexError("unsupported_model")`` otherwise."""
    if _MODEL_ID_SHAPE.fullmatch(model):
        for rule, provider in _PROVIDER_RULES:
            if rule.endswith("-"):
                if model.startswith(rule) and len(model) > len(rule):
                    return provider
            elif model == rule or model.startswith(rule + "-"):
                return provider
    hint = ""
    if model != model.lower() and _matches_any(model.lower()):
        hint = f" Model ids are lowercase: did you mean {preview_value(model.lower())}?"
    raise FlexError(
        "unsupported_model",
        f"model {preview_value(model)} is not one this router serves: the model id picks the "
        f"provider, and accepted ids are {ACCEPTED_MODEL_IDS}, written in lowercase "
        'letters, digits, ".", "-" and "_" (at most 128 characters), e.g. "gpt-5-mini", '
        f'"gemini-3.5-flash" or "claude-sonnet-4-5".{hint}',
        field=MODEL_FIELD,
    )


def _matches_any(model: str) -> bool:
    try:
        provider_for_model(model)
    except FlexError:
        return False
    return True


def tier_exists(provider: Provider, tier: UpstreamTier) -> bool:
    """Whether ``provider`` has ``tier`` at all (for some model)."""
    return tier in SERVICE_TIER_VALUES[provider]


def service_tier_value(provider: Provider, tier: UpstreamTier) -> str:
    """The provider's own ``service_tier`` string for ``tier`` (``KeyError`` if it has none)."""
    return SERVICE_TIER_VALUES[provider][tier]


def upstream_tier_for(provider: Provider, tier: FixedTier) -> UpstreamTier | None:
    """The tier a fixed ``start_within`` asks ``provider`` for; ``None`` when it has no such tier.

    ``priority`` on Anthropic, which has no priority tier, is sent as ``auto`` (SPEC §2.1).
    """
    if tier is FixedTier.DEFAULT:
        return UpstreamTier.STANDARD
    if tier is FixedTier.PRIORITY:
        wanted = UpstreamTier.AUTO if provider is Provider.ANTHROPIC else UpstreamTier.PRIORITY
    else:
        wanted = UpstreamTier.AUTO
    return wanted if tier_exists(provider, wanted) else None


@dataclass(frozen=True, slots=True)
class FlexFamily:
    """One flex-capable model family and the evidence it has a flex tier."""

    provider: Provider
    family: str
    evidence_date: str | None
    evidence: str
    source: str


class FlexCatalog:
    """The flex-capable model families of each provider, from ``flex_models.json``."""

    def __init__(
        self,
        families: Mapping[Provider, tuple[FlexFamily, ...]],
        snapshot_suffixes: Mapping[Provider, str],
        *,
        checked_on: str,
    ) -> None:
        self.checked_on = checked_on
        self._families = {
            provider: {entry.family: entry for entry in entries}
            for provider, entries in families.items()
        }
        self._snapshot = {
            provider: re.compile(rf"(?P<base>.+?)(?:{suffix})?")
            for provider, suffix in snapshot_suffixes.items()
        }

    @classmethod
    def from_json(cls, data: Any) -> FlexCatalog:
        """Build a catalog from the parsed JSON document (raises ``ValueError`` when malformed)."""
        try:
            families: dict[Provider, tuple[FlexFamily, ...]] = {}
            suffixes: dict[Provider, str] = {}
            for name, entry in data["providers"].items():
                provider = Provider(name)
                suffixes[provider] = str(entry["snapshot_suffix"])
                re.compile(suffixes[provider])
                families[provider] = tuple(
                    FlexFamily(
                        provider=provider,
                        family=str(item["family"]),
                        evidence_date=item.get("evidence_date"),
                        evidence=str(item["evidence"]),
                        source=str(item["source"]),
                    )
                    for item in entry["flex_families"]
                )
            return cls(families, suffixes, checked_on=str(data["checked_on"]))
        except (KeyError, TypeError, AttributeError, ValueError, re.error) as error:
            raise ValueError(f"malformed flex model catalog: {error!r}") from error

    @classmethod
    def load(cls, path: Path | None = None) -> FlexCatalog:
        """The catalog in ``path``, or the packaged ``flex_models.json``."""
        if path is None:
            text = resources.files("flexgrpc.routing").joinpath(_CATALOG_FILE).read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        return cls.from_json(json.loads(text))

    def family_of(self, provider: Provider, model: str) -> FlexFamily | None:
        """The flex family ``model`` belongs to, or ``None`` when it has no flex tier."""
        families = self._families.get(provider, {})
        if model in families:
            return families[model]
        snapshot = self._snapshot.get(provider)
        match = snapshot.fullmatch(model) if snapshot is not None else None
        return families.get(match["base"]) if match is not None else None

    def is_flex_capable(self, provider: Provider, model: str) -> bool:
        return tier_exists(provider, UpstreamTier.FLEX) and (
            self.family_of(provider, model) is not None
        )

    def families(self, provider: Provider) -> tuple[str, ...]:
        """The flex family names of ``provider``, in catalog order."""
        return tuple(self._families.get(provider, {}))


@cache
def default_catalog() -> FlexCatalog:
    """The packaged catalog, loaded once."""
    return FlexCatalog.load()


def is_flex_capable(model: str) -> bool:
    """Whether ``model`` has a flex tier (``FlexError("unsupported_model")`` for unknown ids)."""
    return default_catalog().is_flex_capable(provider_for_model(model), model)
