"""The four provider wire formats the simulator speaks, by request path."""

from __future__ import annotations

from collections.abc import Mapping

from flexgrpc.sim.wire.anthropic_messages import AnthropicMessages
from flexgrpc.sim.wire.base import Frame, RequestError, WireFormat
from flexgrpc.sim.wire.gemini_interactions import GeminiInteractions
from flexgrpc.sim.wire.openai_chat import OpenAIChat
from flexgrpc.sim.wire.openai_responses import OpenAIResponses

FORMATS: Mapping[str, WireFormat] = {
    wire.path: wire
    for wire in (OpenAIResponses(), OpenAIChat(), AnthropicMessages(), GeminiInteractions())
}

__all__ = [
    "FORMATS",
    "AnthropicMessages",
    "Frame",
    "GeminiInteractions",
    "OpenAIChat",
    "OpenAIResponses",
    "RequestError",
    "WireFormat",
]
