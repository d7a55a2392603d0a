"""The intermediate form every translation goes through.

A request in any caller surface is read into a ``Request``; the target provider's upstream
format writes its native body from it. An upstream answer is read, event by event, into
``Event``s (or, whole, into an ``Answer``); the caller's surface writes its own frames (or its
own non-streamed body) from those. So adding a surface is one request reader and one answer
writer, and adding a provider is one request writer and one answer reader; no code knows a
pair.

The form is neutral rather than any provider's own shape: a turn is a list of typed parts
(text, image, document, tool call, tool result, reasoning), tools are JSON-Schema functions,
structured output is a JSON Schema, reasoning is an effort level and/or a token budget. What it
cannot carry (a feature only one provider has) is refused by the reader or the writer with
``unsupported_feature`` naming the feature and the pair; nothing is dropped silently. Fields a
reader does not know at all pass through to the upstream body untouched (``passthrough``): the
provider then accepts or refuses them itself.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flexgrpc.errors import FlexError

# ------------------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Media:
    """An image or a document, by ``url`` (http/https) or inline as base64 ``data``, with its
    ``media_type`` (``image/png``, ``application/pdf``, …; ``None`` when only a URL says)."""

    kind: Literal["image", "document"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the assistant made: ``arguments`` is the parsed JSON object.

    ``signature`` is an opaque token some providers need back with the call (Gemini's thought
    signature); it is kept with the call id so that callers echo it back unchanged."""

    id: str
    name: str
    arguments: Mapping[str, Any]
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The result of the tool call ``call_id`` (``name``: the tool's, when the history says)."""

    call_id: str
    content: str
    name: str | None = None
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Reasoning the assistant did earlier (Anthropic thinking, Gemini thoughts, OpenAI
    reasoning summaries). ``signature`` lets its own provider verify it; it means nothing to
    another provider, which is given the text only, or nothing."""

    text: str
    signature: str | None = None


Part = Text | Media | ToolCall | ToolResult | Reasoning


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None = None
    #: The arguments' JSON Schema (``None``: no arguments).
    parameters: Mapping[str, Any] | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``auto`` / ``none`` / ``required``; ``names`` narrows the tools that may be called."""

    mode: Literal["auto", "none", "required"]
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JsonOutput:
    """The answer is JSON: valid against ``schema`` when there is one."""

    schema: Mapping[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[Effort, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True, slots=True)
class ReasoningControl:
    """How much to reason: an ``effort`` level, a token ``budget``, or both; ``summary`` asks
    for the reasoning to be shown (where the provider can)."""

    effort: Effort | None = None
    budget_tokens: int | None = None
    summary: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    model: str
    turns: tuple[Turn, ...]
    system: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    output: JsonOutput | None = None
    reasoning: ReasoningControl | None = None
    #: Who the end user is (for the provider's abuse monitoring).
    end_user: str | None = None
    #: Keep the conversation on the provider's side (OpenAI ``store``); Chat is stateless.
    store: bool | None = None
    #: Fields of the caller's body no reader knows: passed to the upstream body as they are.
    passthrough: Mapping[str, Any] = field(default_factory=dict)

    @property
    def system_text(self) -> str | None:
        """Every system/developer instruction, joined with a newline, or ``None``."""
        return "\n".join(self.system) if self.system else None


# ------------------------------------------------------------------------------------------
# Answers
# ------------------------------------------------------------------------------------------


class FinishReason(enum.StrEnum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts in one decomposition: ``cached`` and ``cache_write`` are parts of
    ``input``; ``reasoning`` is part of ``output``."""

    input: int = 0
    output: int = 0
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0

    @property
    def uncached_input(self) -> int:
        return self.input - self.cached - self.cache_write


@dataclass(frozen=True, slots=True)
class Started:
    """The answer began: its id and model as the provider named them."""

    id: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Shown reasoning; ``signature`` (its provider's, to send back) may come alone."""

    text: str = ""
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """Tool call ``index`` (0, 1, … in the answer) begins; ``signature`` as in ``ToolCall``."""

    index: int
    id: str
    name: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ToolArgumentsDelta:
    """A fragment of tool call ``index``'s JSON arguments (fragments concatenate)."""

    index: int
    fragment: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The answer ended normally, with the final usage and the tier the provider named."""

    reason: FinishReason
    usage: Usage
    service_tier: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The provider reported an error inside the stream; nothing follows."""

    message: str
    code: str | None = None


Event = (
    Started | TextDelta | ReasoningDelta | ToolCallStarted | ToolArgumentsDelta | Finished | Failed
)


@dataclass(frozen=True, slots=True)
class AnswerToolCall:
    id: str
    name: str
    #: The arguments as the JSON text the provider produced.
    arguments: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole (non-streamed) answer. ``reasoning`` before ``text`` before ``tool_calls`` is
    the order every surface shows them in."""

    id: str | None
    model: str | None
    text: str
    tool_calls: tuple[AnswerToolCall, ...]
    finish: FinishReason
    usage: Usage
    reasoning: str = ""
    reasoning_signature: str | None = None
    service_tier: str | None = None


class AnswerBuilder:
    """Adds events up to an ``Answer`` (for a non-streamed caller served from a stream)."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._model: str | None = None
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._signature: str | None = None
        self._calls: dict[int, list[str]] = {}
        self._heads: dict[int, ToolCallStarted] = {}
        self.finished: Finished | None = None
        self.failed: Failed | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, Started):
            self._id, self._model = event.id or self._id, event.model or self._model
        elif isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
            self._signature = event.signature or self._signature
        elif isinstance(event, ToolCallStarted):
            self._heads[event.index] = event
            self._calls.setdefault(event.index, [])
        elif isinstance(event, ToolArgumentsDelta):
            self._calls.setdefault(event.index, []).append(event.fragment)
        elif isinstance(event, Finished):
            self.finished = event
        else:
            self.failed = event

    def answer(self) -> Answer:
        """The answer; ``FlexError("upstream_error")`` when it failed or never finished."""
        if self.failed is not None or self.finished is None:
            reason = self.failed.message if self.failed else "it ended before it was complete"
            raise FlexError("upstream_error", f"The provider's answer broke off: {reason}.")
        calls = tuple(
            AnswerToolCall(
                head.id, head.name, "".join(self._calls.get(index, [])) or "{}", head.signature
            )
            for index, head in sorted(self._heads.items())
        )
        return Answer(
            id=self._id,
            model=self._model,
            text="".join(self._text),
            tool_calls=calls,
            finish=self.finished.reason,
            usage=self.finished.usage,
            reasoning="".join(self._reasoning),
            reasoning_signature=self._signature,
            service_tier=self.finished.service_tier,
        )


# ------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------


class Feature(enum.StrEnum):
    """What an upstream writer can find it cannot express; the caller's format names the
    field that asked for it (``CallerFormat.field_of``)."""

    JSON_WITHOUT_SCHEMA = "json_without_schema"
    TOP_K = "top_k"
    DOCUMENT = "document"
    IMAGE = "image"
    TOOL_CHOICE = "tool_choice"


class Inexpressible(Exception):
    """Raised by an upstream writer: ``feature`` has no equivalent in its API; ``remedy`` says
    what the caller can do instead. The pairing turns it into ``unsupported_feature``."""

    def __init__(self, feature: Feature, remedy: str) -> None:
        super().__init__(feature.value)
        self.feature = feature
        self.remedy = remedy


def unsupported(feature: str, message: str) -> FlexError:
    """A feature of the caller's request the target cannot express (names the field)."""
    return FlexError("unsupported_feature", message, field=feature)


def invalid(where: str, message: str) -> FlexError:
    """A malformed part of the caller's request."""
    return FlexError("invalid_argument", message, field=where)
