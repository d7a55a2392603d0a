"""ModelService: the models an organization can reach, typed and in each provider's own shape.

A model is listed when the organization has a key for its provider, the router accepts its id,
and the price catalog prices it today (any tier). Each carries what the router adds: whether it
has a flex race, its priced tiers and where each price comes from, and the routes that serve it.

The provider-shaped listings follow each SDK's ``models.list()`` / ``retrieve()``:

- OpenAI: ``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``,
  every reachable model (Chat Completions reaches every provider);
- Anthropic, when the request carries ``anthropic-version``: ``{"data": [{"type": "model",
  "id", "display_name", "created_at"}], "has_more", "first_id", "last_id"}``, Claude models
  (``limit`` / ``after_id`` / ``before_id`` pages);
- Gemini, under ``/v1beta`` or when the key came in ``x-goog-api-key``: ``{"models": [{"name":
  "models/…", "displayName", "supportedGenerationMethods", …}], "nextPageToken"}``, Gemini models.

Every entry has a ``flexinference`` block; the SDKs keep the fields they know. The price data
has no release dates, so ``created`` is 0 and ``created_at`` the Unix epoch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from flexinference.v1 import models_pb2, models_pb2_grpc, route_pb2, types_pb2
from google.api import httpbody_pb2

from flexgrpc.accounts.store import AccountStore
from flexgrpc.api.auth import current_principal
from flexgrpc.api.pagination import decode_token, encode_token, page_size
from flexgrpc.api.resources import organization_id
from flexgrpc.domain import DIRECT_ROUTES, PLANNED_ROUTES, ROUTE_PROVIDERS, Provider
from flexgrpc.errors import FlexError
from flexgrpc.pricing.catalog import PriceCatalog, PriceTier
from flexgrpc.routing.model_ids import provider_for_model

#: Metadata the REST shim sets: the name of the header that carried the API key (never the key).
KEY_HEADER_METADATA: Final = "x-flexinference-key-header"
_ANTHROPIC_VERSION: Final = "anthropic-version"
_GEMINI_KEY_HEADER: Final = "x-goog-api-key"

_OWNERS: Final = {
    Provider.OPENAI: "openai",
    Provider.GEMINI: "google",
    Provider.ANTHROPIC: "anthropic",
}
_PRICED_TIERS: Final = {
    PriceTier.STANDARD: models_pb2.PRICED_TIER_STANDARD,
    PriceTier.FLEX: models_pb2.PRICED_TIER_FLEX,
    PriceTier.PRIORITY: models_pb2.PRICED_TIER_PRIORITY,
}
_EPOCH: Final = "1970-01-01T00:00:00Z"
_ANTHROPIC_DEFAULT_LIMIT: Final = 20
_MODELS_PREFIX: Final = "models/"


@dataclass(frozen=True, slots=True)
class PriceSource:
    tier: PriceTier
    layer: str
    origin: str
    data_version: str


@dataclass(frozen=True, slots=True)
class ReachableModel:
    """A model the organization can send requests to, as the router knows it today."""

    provider: Provider
    model_id: str
    flex_race: bool
    tiers: tuple[PriceTier, ...]
    sources: tuple[PriceSource, ...]
    routes: tuple[str, ...]

    def flexinference(self) -> dict[str, Any]:
        """The block every provider-shaped entry carries."""
        return {
            "provider": self.provider.value,
            "flex_race": self.flex_race,
            "tiers": [tier.value for tier in self.tiers],
            "routes": list(self.routes),
            "prices": [
                {
                    "tier": s.tier.value,
                    "layer": s.layer,
                    "origin": s.origin,
                    "data_version": s.data_version,
                }
                for s in self.sources
            ],
        }


def _routes(provider: Provider) -> tuple[str, ...]:
    direct = DIRECT_ROUTES[provider]
    others = [r for r, p in ROUTE_PROVIDERS.items() if p is provider and r is not direct]
    return (direct.value, *(r.value for r in others if r not in PLANNED_ROUTES))


def _accepted(provider: Provider, model: str) -> bool:
    try:
        return provider_for_model(model) is provider
    except FlexError:
        return False


def reachable_model(
    catalog: PriceCatalog, provider: Provider, model: str, *, on: dt.date
) -> ReachableModel | None:
    """``model`` as listed, or ``None`` when the router does not accept or price it."""
    if not _accepted(provider, model):
        return None
    sources = []
    for tier in PriceTier:
        entry = catalog.tier_entry(provider, model, tier, on=on)
        if entry is not None and entry.layer is not None:
            layer = entry.layer
            sources.append(PriceSource(tier, layer.name.value, layer.origin, layer.data_version))
    if not sources:
        return None
    return ReachableModel(
        provider=provider,
        model_id=model,
        flex_race=catalog.has_flex(provider, model, on=on),
        tiers=tuple(s.tier for s in sources),
        sources=tuple(sources),
        routes=_routes(provider),
    )


def reachable_models(
    catalog: PriceCatalog, providers: Sequence[Provider], *, on: dt.date
) -> list[ReachableModel]:
    """Every model of ``providers`` the catalog prices on ``on``, by model id."""
    found = []
    for provider in providers:
        for family in catalog.families(provider):
            model = reachable_model(catalog, provider, family, on=on)
            if model is not None:
                found.append(model)
    return sorted(found, key=lambda m: m.model_id)


# ---- the providers' shapes ----------------------------------------------------------------


def openai_entry(model: ReachableModel) -> dict[str, Any]:
    return {
        "id": model.model_id,
        "object": "model",
        "created": 0,
        "owned_by": _OWNERS[model.provider],
        "flexinference": model.flexinference(),
    }


def anthropic_entry(model: ReachableModel) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model.model_id,
        "display_name": model.model_id,
        "created_at": _EPOCH,
        "flexinference": model.flexinference(),
    }


def _gemini_methods() -> list[str]:
    """The Gemini API generation methods the router serves (none until RouteService has them)."""
    served = route_pb2.DESCRIPTOR.services_by_name["RouteService"].methods_by_name
    return [
        name
        for name, method in (
            ("generateContent", "GenerateContent"),
            ("streamGenerateContent", "StreamGenerateContent"),
        )
        if method in served
    ]


def gemini_entry(model: ReachableModel) -> dict[str, Any]:
    return {
        "name": _MODELS_PREFIX + model.model_id,
        "baseModelId": model.model_id,
        "version": "",
        "displayName": model.model_id,
        "description": "",
        "supportedGenerationMethods": _gemini_methods(),
        "flexinference": model.flexinference(),
    }


def _json_body(document: Any) -> httpbody_pb2.HttpBody:
    data = json.dumps(document, separators=(",", ":")).encode()
    return httpbody_pb2.HttpBody(content_type="application/json", data=data)


class _Shape:
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


def _shape(context: Any) -> str:
    metadata = dict(context.invocation_metadata() or ())
    if _ANTHROPIC_VERSION in metadata:
        return _Shape.ANTHROPIC
    if metadata.get(KEY_HEADER_METADATA) == _GEMINI_KEY_HEADER:
        return _Shape.GEMINI
    return _Shape.OPENAI


_SHAPE_PROVIDERS: Final = {
    _Shape.OPENAI: (Provider.OPENAI, Provider.GEMINI, Provider.ANTHROPIC),
    _Shape.ANTHROPIC: (Provider.ANTHROPIC,),
    _Shape.GEMINI: (Provider.GEMINI,),
}


def _not_found(model: str, field: str) -> FlexError:
    return FlexError(
        "not_found",
        f"model {model[:128]!r} is not one your organization can reach: it needs a price in the "
        "catalog and a provider key of your organization for its provider (GET /v1/models "
        "lists the models you can use).",
        field=field,
    )


def _page(
    models: list[ReachableModel], token: str, size: int, arguments: dict[str, Any]
) -> tuple[list[ReachableModel], str]:
    """One page after ``token``'s model id, and the token of the next page ("" at the end)."""
    cursor = decode_token(token, arguments)
    after = str(cursor[0]) if cursor else None
    rest = [m for m in models if after is None or m.model_id > after]
    page = rest[:size]
    more = len(rest) > size
    return page, encode_token([page[-1].model_id], arguments) if more and page else ""


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    def __init__(self, catalog: PriceCatalog, accounts: AccountStore) -> None:
        self._catalog = catalog
        self._accounts = accounts

    async def _providers(self, organization: str) -> list[Provider]:
        names = await asyncio.to_thread(self._accounts.list_provider_keys, organization)
        return [p for p in Provider if p.value in names]

    async def _reachable(
        self, organization: str, among: Sequence[Provider] = tuple(Provider)
    ) -> list[ReachableModel]:
        providers = [p for p in await self._providers(organization) if p in among]
        return reachable_models(self._catalog, providers, on=_today())

    async def _one(self, organization: str, model: str, field: str) -> ReachableModel:
        try:
            provider = provider_for_model(model)
        except FlexError:
            raise _not_found(model, field) from None
        if provider not in await self._providers(organization):
            raise _not_found(model, field)
        found = reachable_model(self._catalog, provider, model, on=_today())
        if found is None:
            raise _not_found(model, field)
        return found

    # ---- typed (AIP-132 / AIP-131) ----

    async def ListModels(
        self, request: models_pb2.ListModelsRequest, context: Any
    ) -> models_pb2.ListModelsResponse:
        org = organization_id(request.parent, current_principal(), field="parent")
        size = page_size(request.page_size, default=100)
        models, token = _page(await self._reachable(org), request.page_token, size, {"parent": org})
        return models_pb2.ListModelsResponse(
            models=[_typed(org, m) for m in models], next_page_token=token
        )

    async def GetModel(self, request: models_pb2.GetModelRequest, context: Any) -> models_pb2.Model:
        parent, sep, model = request.name.rpartition("/models/")
        if not sep or not model:
            raise FlexError(
                "invalid_argument",
                "name must be `organizations/{organization}/models/{model_id}`, e.g. "
                f"`organizations/-/models/o3`; got {request.name[:120]!r}.",
                field="name",
            )
        org = organization_id(parent, current_principal(), field="name")
        return _typed(org, await self._one(org, model, "name"))

    # ---- the providers' shapes ----

    async def ListProviderModels(
        self, request: models_pb2.ListProviderModelsRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        org = current_principal().organization_id
        shape = _shape(context)
        models = await self._reachable(org, _SHAPE_PROVIDERS[shape])
        if shape == _Shape.GEMINI:
            return self._gemini_list(models, request.page_size, request.page_token)
        if shape == _Shape.ANTHROPIC:
            return _anthropic_list(models, request)
        return _json_body({"object": "list", "data": [openai_entry(m) for m in models]})

    async def GetProviderModel(
        self, request: models_pb2.GetProviderModelRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        org = current_principal().organization_id
        shape = _shape(context)
        model = request.model.removeprefix(_MODELS_PREFIX)
        found = await self._one(org, model, "model")
        if found.provider not in _SHAPE_PROVIDERS[shape]:
            raise _not_found(model, "model")
        present = {
            _Shape.OPENAI: openai_entry,
            _Shape.ANTHROPIC: anthropic_entry,
            _Shape.GEMINI: gemini_entry,
        }[shape]
        return _json_body(present(found))

    async def ListGeminiModels(
        self, request: models_pb2.ListGeminiModelsRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        org = current_principal().organization_id
        models = await self._reachable(org, (Provider.GEMINI,))
        return self._gemini_list(models, request.page_size, request.page_token)

    async def GetGeminiModel(
        self, request: models_pb2.GetGeminiModelRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        org = current_principal().organization_id
        model = request.model.removeprefix(_MODELS_PREFIX)
        found = await self._one(org, model, "model")
        if found.provider is not Provider.GEMINI:
            raise _not_found(model, "model")
        return _json_body(gemini_entry(found))

    def _gemini_list(
        self, models: list[ReachableModel], size: int, token: str
    ) -> httpbody_pb2.HttpBody:
        page, next_token = _page(models, token, page_size(size), {"shape": _Shape.GEMINI})
        document: dict[str, Any] = {"models": [gemini_entry(m) for m in page]}
        if next_token:
            document["nextPageToken"] = next_token
        return _json_body(document)


def _anthropic_list(
    models: list[ReachableModel], request: models_pb2.ListProviderModelsRequest
) -> httpbody_pb2.HttpBody:
    limit = request.limit or _ANTHROPIC_DEFAULT_LIMIT
    if not 1 <= limit <= 1000:
        raise FlexError(
            "invalid_argument", f"limit must be from 1 to 1000, got {limit}.", field="limit"
        )
    if request.after_id and request.before_id:
        raise FlexError(
            "invalid_argument",
            "give after_id or before_id, not both: after_id pages forward, before_id back.",
            field="before_id",
        )
    if request.before_id:
        earlier = [m for m in models if m.model_id < request.before_id]
        page = earlier[-limit:]
        has_more = len(earlier) > limit
    else:
        later = [m for m in models if m.model_id > request.after_id]
        page = later[:limit]
        has_more = len(later) > limit
    return _json_body(
        {
            "data": [anthropic_entry(m) for m in page],
            "has_more": has_more,
            "first_id": page[0].model_id if page else None,
            "last_id": page[-1].model_id if page else None,
        }
    )


def _typed(organization: str, model: ReachableModel) -> models_pb2.Model:
    return models_pb2.Model(
        name=f"organizations/{organization}/models/{model.model_id}",
        model_id=model.model_id,
        display_name=model.model_id,
        routes=[
            types_pb2.ProviderRoute.Value(f"PROVIDER_ROUTE_{route.upper()}")
            for route in model.routes
        ],
        flex_race=model.flex_race,
        priced_tiers=[_PRICED_TIERS[t] for t in model.tiers],
        price_sources=[
            models_pb2.TierPriceSource(
                tier=_PRICED_TIERS[s.tier],
                layer=s.layer,
                origin=s.origin,
                data_version=s.data_version,
            )
            for s in model.sources
        ],
    )


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
