"""Who calls, whose model it is, and which way a request reaches the provider."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final


class Surface(enum.StrEnum):
    """The caller's wire format (and, for an upstream call, the provider API spoken)."""

    RESPONSES = "responses"
    CHAT_COMPLETIONS = "chat_completions"
    MESSAGES = "messages"
    INTERACTIONS = "interactions"
    GENERATE_CONTENT = "generate_content"


class Provider(enum.StrEnum):
    """Whose model it is: decides the upstream wire format and the provider key used."""

    OPENAI = "openai"
    GEMINI = "gemini"
    ANTHROPIC = "anthropic"


class ProviderRoute(enum.StrEnum):
    """A way to reach a provider (the caller's ``provider`` list names these). Only the direct
    routes, on the organization's own key, exist today."""

    OPENAI = "openai"
    GOOGLE = "google"
    ANTHROPIC = "anthropic"
    VERTEX = "vertex"
    BEDROCK = "bedrock"


#: The route that reaches each provider directly, on the organization's own key.
DIRECT_ROUTES: Final[Mapping[Provider, ProviderRoute]] = {
    Provider.OPENAI: ProviderRoute.OPENAI,
    Provider.GEMINI: ProviderRoute.GOOGLE,
    Provider.ANTHROPIC: ProviderRoute.ANTHROPIC,
}

#: Whose models each route can serve.
ROUTE_PROVIDERS: Final[Mapping[ProviderRoute, Provider]] = {
    ProviderRoute.OPENAI: Provider.OPENAI,
    ProviderRoute.GOOGLE: Provider.GEMINI,
    ProviderRoute.ANTHROPIC: Provider.ANTHROPIC,
    ProviderRoute.VERTEX: Provider.GEMINI,
    ProviderRoute.BEDROCK: Provider.ANTHROPIC,
}

#: Routes that are designed but not built yet (SPEC §2.2): asking for one is a clear 400.
PLANNED_ROUTES: Final = frozenset({ProviderRoute.VERTEX, ProviderRoute.BEDROCK})
