"""Which adapter serves each (caller surface, provider) pair."""

from __future__ import annotations

from collections.abc import Mapping

from flexgrpc.domain import Provider, ProviderRoute, Surface
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.anthropic import MessagesAdapter
from flexgrpc.providers.gemini import InteractionsAdapter
from flexgrpc.providers.openai import ChatCompletionsAdapter, ResponsesAdapter
from flexgrpc.providers.translate import translator_for
from flexgrpc.providers.translated import TranslatedChatAdapter


def default_adapters() -> Mapping[tuple[Surface, Provider], Adapter]:
    return {
        (Surface.RESPONSES, Provider.OPENAI): ResponsesAdapter(),
        (Surface.CHAT_COMPLETIONS, Provider.OPENAI): ChatCompletionsAdapter(),
        (Surface.MESSAGES, Provider.ANTHROPIC): MessagesAdapter(),
        (Surface.INTERACTIONS, Provider.GEMINI): InteractionsAdapter(),
        (Surface.CHAT_COMPLETIONS, Provider.ANTHROPIC): TranslatedChatAdapter(
            MessagesAdapter(), translator_for("anthropic")
        ),
        (Surface.CHAT_COMPLETIONS, Provider.GEMINI): TranslatedChatAdapter(
            InteractionsAdapter(), translator_for("gemini")
        ),
    }


def route_base_urls(openai: str, gemini: str, anthropic: str) -> Mapping[ProviderRoute, str]:
    """The base URL each direct route sends to."""
    return {
        ProviderRoute.OPENAI: openai,
        ProviderRoute.GOOGLE: gemini,
        ProviderRoute.ANTHROPIC: anthropic,
    }
