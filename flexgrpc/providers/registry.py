"""Which adapter serves each (caller surface, provider) pair."""

from __future__ import annotations

from collections.abc import Mapping

from flexgrpc.providers.anthropic import MessagesAdapter
from flexgrpc.providers.base import Adapter
from flexgrpc.providers.openai import ChatCompletionsAdapter, ResponsesAdapter
from flexgrpc.routing.job import Provider, Route, Surface


def default_adapters() -> Mapping[tuple[Surface, Provider], Adapter]:
    return {
        (Surface.RESPONSES, Provider.OPENAI): ResponsesAdapter(),
        (Surface.CHAT_COMPLETIONS, Provider.OPENAI): ChatCompletionsAdapter(),
        (Surface.MESSAGES, Provider.ANTHROPIC): MessagesAdapter(),
    }


def route_base_urls(openai: str, gemini: str, anthropic: str) -> Mapping[Route, str]:
    """The base URL each direct route sends to."""
    return {Route.OPENAI: openai, Route.GOOGLE: gemini, Route.ANTHROPIC: anthropic}
