"""Which adapter serves each (caller surface, provider) pair: the provider's own adapter where
the caller speaks the provider's surface, else a translated one over the API the router speaks
to that provider for other surfaces (``UPSTREAMS``)."""

from __future__ import annotations

from collections.abc import Mapping

from flexgrpc.domain import Provider, ProviderRoute, Surface
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.anthropic import MessagesAdapter
from flexgrpc.providers.gemini import InteractionsAdapter
from flexgrpc.providers.generate_content import GenerateContentAdapter
from flexgrpc.providers.openai import ChatCompletionsAdapter, ResponsesAdapter
from flexgrpc.providers.translate.chat import ChatCaller, ChatUpstream
from flexgrpc.providers.translate.formats import CallerFormat, UpstreamFormat
from flexgrpc.providers.translate.generate_content import GenerateContentCaller
from flexgrpc.providers.translate.interactions import InteractionsCaller, InteractionsUpstream
from flexgrpc.providers.translate.messages import MessagesCaller, MessagesUpstream
from flexgrpc.providers.translate.responses import ResponsesCaller
from flexgrpc.providers.translated import TranslatedAdapter

#: Each surface as a caller speaks it, when the provider reached is not its own.
CALLERS: Mapping[Surface, CallerFormat] = {
    Surface.RESPONSES: ResponsesCaller(),
    Surface.CHAT_COMPLETIONS: ChatCaller(),
    Surface.MESSAGES: MessagesCaller(),
    Surface.INTERACTIONS: InteractionsCaller(),
    Surface.GENERATE_CONTENT: GenerateContentCaller(),
}

#: The API the router speaks to each provider for other surfaces: its adapter and its format.
UPSTREAMS: Mapping[Provider, tuple[Adapter, UpstreamFormat]] = {
    Provider.OPENAI: (ChatCompletionsAdapter(), ChatUpstream()),
    Provider.ANTHROPIC: (MessagesAdapter(), MessagesUpstream()),
    Provider.GEMINI: (InteractionsAdapter(), InteractionsUpstream()),
}


def default_adapters() -> Mapping[tuple[Surface, Provider], Adapter]:
    native: dict[tuple[Surface, Provider], Adapter] = {
        (Surface.RESPONSES, Provider.OPENAI): ResponsesAdapter(),
        (Surface.CHAT_COMPLETIONS, Provider.OPENAI): ChatCompletionsAdapter(),
        (Surface.MESSAGES, Provider.ANTHROPIC): MessagesAdapter(),
        (Surface.INTERACTIONS, Provider.GEMINI): InteractionsAdapter(),
        (Surface.GENERATE_CONTENT, Provider.GEMINI): GenerateContentAdapter(),
    }
    adapters = dict(native)
    for surface, caller in CALLERS.items():
        for provider, (adapter, upstream) in UPSTREAMS.items():
            if (surface, provider) not in native:
                adapters[(surface, provider)] = TranslatedAdapter(caller, adapter, upstream)
    return adapters


def route_base_urls(openai: str, gemini: str, anthropic: str) -> Mapping[ProviderRoute, str]:
    """The base URL each direct route sends to."""
    return {
        ProviderRoute.OPENAI: openai,
        ProviderRoute.GOOGLE: gemini,
        ProviderRoute.ANTHROPIC: anthropic,
    }
