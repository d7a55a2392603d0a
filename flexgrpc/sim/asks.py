"""What a request asks of its answer, whatever its wire format: the tools it offers, how the
model may choose among them, and the JSON Schema its text must satisfy.

Each wire format reads its own spelling (OpenAI ``tools`` / ``tool_choice`` /
``response_format``, Anthropic ``tool_choice.type`` / ``output_config.format``, Gemini
``functionCallingConfig.mode`` / ``responseSchema``, ...) into one ``Ask``; ``generation.draw``
turns an ``Ask`` into tool calls or a JSON text. A request that asks nothing gets ``PLAIN`` and
the answer it always got.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ToolChoice(enum.StrEnum):
    #: The model decides: sometimes a call, sometimes text.
    AUTO = "auto"
    #: The model must call one of the tools (``required``, ``any``, a named tool).
    REQUIRED = "required"
    #: The model must not call a tool.
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    #: The JSON Schema of the arguments (``{}`` when the tool declares none).
    parameters: Mapping[str, Any] = field(default_factory=dict)


#: The schema of a ``json_object`` answer, which names no schema of its own.
ANY_JSON_OBJECT: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["answer", "confidence"],
}


@dataclass(frozen=True, slots=True)
class Ask:
    tools: tuple[Tool, ...] = ()
    choice: ToolChoice = ToolChoice.AUTO
    #: The only tools a call may use (a named tool choice, an allowed list); empty = any.
    allowed: tuple[str, ...] = ()
    #: More than one call in one answer is allowed (the format has it and the caller did not
    #: turn it off).
    parallel: bool = True
    #: The last input turn is a tool's result: the round trip ends with text.
    after_tool_result: bool = False
    #: The JSON Schema the answer text must satisfy (``None`` = free text).
    text_schema: Mapping[str, Any] | None = None

    def callable_tools(self) -> tuple[Tool, ...]:
        """The tools a call may use now (none when the choice or the turn rules calls out)."""
        if self.choice is ToolChoice.NONE or self.after_tool_result:
            return ()
        if not self.allowed:
            return self.tools
        return tuple(tool for tool in self.tools if tool.name in self.allowed)


PLAIN = Ask()


def schema_object(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON Schema object, else the empty schema (anything goes)."""
    return value if isinstance(value, Mapping) else {}


def named(value: Any) -> str | None:
    """A non-empty string, or ``None``."""
    return value if isinstance(value, str) and value else None
