"""The provider wire formats the simulator speaks, found by request path.

Four have one fixed path each (``FORMATS``); Gemini generateContent carries the model and the
streaming mode in its path, so ``route`` builds its wire format per request. The count-tokens
routes (``token_counter``) count prompts without generating.
"""

from __future__ import annotations

from collections.abc import Mapping

from flexgrpc.sim.wire.anthropic_messages import AnthropicMessages, AnthropicTokenCount
from flexgrpc.sim.wire.base import Frame, RequestError, TokenCounter, WireFormat
from flexgrpc.sim.wire.gemini_generate_content import GeminiGenerateContent, GeminiTokenCount
from flexgrpc.sim.wire.gemini_interactions import GeminiInteractions
from flexgrpc.sim.wire.openai_chat import OpenAIChat
from flexgrpc.sim.wire.openai_responses import OpenAIResponses

FORMATS: Mapping[str, WireFormat] = {
    wire.path: wire
    for wire in (OpenAIResponses(), OpenAIChat(), AnthropicMessages(), GeminiInteractions())
}

_ANTHROPIC_COUNT = AnthropicTokenCount()
_GEMINI_COUNT = GeminiTokenCount()


def route(path: str, query: Mapping[str, str]) -> WireFormat | None:
    """The wire format that answers a generation request on ``path``, if any."""
    return FORMATS.get(path) or GeminiGenerateContent.for_path(path, query)


def token_counter(path: str) -> TokenCounter | None:
    """The count-tokens route on ``path``, if any."""
    if path == _ANTHROPIC_COUNT.path:
        return _ANTHROPIC_COUNT
    return _GEMINI_COUNT if GeminiTokenCount.matches(path) else None


__all__ = [
    "FORMATS",
    "AnthropicMessages",
    "AnthropicTokenCount",
    "Frame",
    "GeminiGenerateContent",
    "GeminiInteractions",
    "GeminiTokenCount",
    "OpenAIChat",
    "OpenAIResponses",
    "RequestError",
    "TokenCounter",
    "WireFormat",
    "route",
    "token_counter",
]
