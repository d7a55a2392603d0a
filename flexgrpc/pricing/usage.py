"""One normaliser per upstream wire format: the provider's usage block → ``TokenCounts``.

Token accounting is a decomposition (SPEC §4). The four categories are disjoint and each is priced
at its own rate; reasoning is reported too, as the part of ``output`` it already is:

- OpenAI Responses: ``input_tokens`` includes ``input_tokens_details.cached_tokens``;
  ``output_tokens`` includes ``output_tokens_details.reasoning_tokens``.
- OpenAI Chat Completions: ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens``;
  ``completion_tokens`` includes ``completion_tokens_details.reasoning_tokens``.
- Anthropic Messages: ``input_tokens`` excludes ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens`` (three disjoint counts); ``output_tokens`` includes thinking,
  which is not broken out.
- Gemini Interactions: ``total_input_tokens`` includes ``total_cached_tokens``;
  ``total_tool_use_tokens`` is a separate prompt count, billed as input; ``total_output_tokens``
  *excludes* ``total_thought_tokens``, so output is their sum.
- Gemini generateContent: the same decomposition in ``usageMetadata``'s words:
  ``promptTokenCount`` includes ``cachedContentTokenCount``; ``toolUsePromptTokenCount`` is apart;
  ``candidatesTokenCount`` excludes ``thoughtsTokenCount``.

Each normaliser also reports the prompt's non-text input modalities where the format says
(Gemini's ``*_tokens_by_modality``, Chat's ``prompt_tokens_details.audio_tokens``), so that a
model pricing audio (say) apart from text is not priced at its text rate.

Normalisers never raise: they run on the hot path, after the answer, on whatever the provider sent.
Missing or malformed counts become 0 and ``complete`` turns false, so the pricer can report a cost
but will not bill a saving it cannot prove. What counts as missing follows each format's habits:
OpenAI always sends the detail objects, so a missing cached count is incomplete; Gemini's JSON
omits zero-valued fields (proto3), so an absent count there is 0; Anthropic types its cache counts
as optional (null = none).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Final

from flexgrpc.domain import Provider, Surface, TokenCounts


class UsageFormat(enum.StrEnum):
    """The shape of an upstream usage block (the native wire format of the provider reached)."""

    OPENAI_RESPONSES = "openai_responses"
    OPENAI_CHAT = "openai_chat"
    ANTHROPIC_MESSAGES = "anthropic_messages"
    GEMINI_INTERACTIONS = "gemini_interactions"
    GEMINI_GENERATE_CONTENT = "gemini_generate_content"


def usage_format_for(provider: Provider, upstream: Surface) -> UsageFormat:
    """The usage shape of an answer from ``provider``'s ``upstream`` API (the one the router
    spoke to it, whatever surface the caller used)."""
    if provider is Provider.ANTHROPIC:
        return UsageFormat.ANTHROPIC_MESSAGES
    if provider is Provider.GEMINI:
        if upstream is Surface.GENERATE_CONTENT:
            return UsageFormat.GEMINI_GENERATE_CONTENT
        return UsageFormat.GEMINI_INTERACTIONS
    if upstream is Surface.CHAT_COMPLETIONS:
        return UsageFormat.OPENAI_CHAT
    return UsageFormat.OPENAI_RESPONSES


class _Reader:
    """Reads non-negative integer counts out of untrusted JSON, remembering any trouble."""

    def __init__(self, block: object) -> None:
        self.block: Mapping[str, object] = block if isinstance(block, Mapping) else {}
        self.complete = isinstance(block, Mapping)

    def count(self, key: str, *, within: str | None = None, absent_is_zero: bool = False) -> int:
        """The count at ``key`` (inside the ``within`` object, if given); 0 when unusable."""
        source = self.block
        if within is not None:
            inner = self.block.get(within)
            if not isinstance(inner, Mapping):
                if inner is not None or not absent_is_zero:
                    self.complete = False
                return 0
            source = inner
        value = source.get(key)
        if value is None:
            if not absent_is_zero:
                self.complete = False
            return 0
        # bool is an int subclass; a float, even 12.0, is not a token count.
        if type(value) is not int or value < 0:
            self.complete = False
            return 0
        return value

    def part_of(self, part: int, whole: int) -> int:
        """``part`` clamped to ``whole`` (a subset larger than its set is inconsistent)."""
        if part > whole:
            self.complete = False
            return whole
        return part


def normalise_openai_responses(usage: object) -> TokenCounts:
    """``response.usage`` of the Responses API."""
    read = _Reader(usage)
    total_input = read.count("input_tokens")
    cached = read.part_of(read.count("cached_tokens", within="input_tokens_details"), total_input)
    output = read.count("output_tokens")
    reasoning = read.part_of(
        read.count("reasoning_tokens", within="output_tokens_details", absent_is_zero=True), output
    )
    return TokenCounts(
        uncached_input=total_input - cached,
        cached_input=cached,
        output=output,
        reasoning=reasoning,
        complete=read.complete,
    )


def normalise_openai_chat(usage: object) -> TokenCounts:
    """``usage`` of a Chat Completion (or of the last chunk with ``include_usage``)."""
    read = _Reader(usage)
    total_input = read.count("prompt_tokens")
    cached = read.part_of(read.count("cached_tokens", within="prompt_tokens_details"), total_input)
    output = read.count("completion_tokens")
    reasoning = read.part_of(
        read.count("reasoning_tokens", within="completion_tokens_details", absent_is_zero=True),
        output,
    )
    audio = read.count("audio_tokens", within="prompt_tokens_details", absent_is_zero=True)
    return TokenCounts(
        uncached_input=total_input - cached,
        cached_input=cached,
        output=output,
        reasoning=reasoning,
        complete=read.complete,
        input_modalities=frozenset({"audio"}) if audio else frozenset(),
    )


def normalise_anthropic_messages(usage: object) -> TokenCounts:
    """``message.usage`` of the Messages API (``message_start`` merged with ``message_delta``).

    Cache writes are priced at the 5-minute write rate. A request that wrote to the 1-hour cache
    (``cache_creation.ephemeral_1h_input_tokens`` > 0) costs more than that, so it is marked
    incomplete rather than silently under-reported.
    """
    read = _Reader(usage)
    uncached = read.count("input_tokens")
    cache_read = read.count("cache_read_input_tokens", absent_is_zero=True)
    cache_write = read.count("cache_creation_input_tokens", absent_is_zero=True)
    output = read.count("output_tokens")
    if read.count("ephemeral_1h_input_tokens", within="cache_creation", absent_is_zero=True):
        read.complete = False
    return TokenCounts(
        uncached_input=uncached,
        cached_input=cache_read,
        cache_write=cache_write,
        output=output,
        complete=read.complete,
    )


def normalise_gemini_interactions(usage: object) -> TokenCounts:
    """``interaction.usage`` of the Interactions API.

    Thoughts are reported outside ``total_output_tokens`` and billed as output, so output is their
    sum. Tool-use prompt tokens are outside ``total_input_tokens`` and billed as input.
    """
    read = _Reader(usage)
    total_input = read.count("total_input_tokens", absent_is_zero=True)
    cached = read.part_of(read.count("total_cached_tokens", absent_is_zero=True), total_input)
    tool_use = read.count("total_tool_use_tokens", absent_is_zero=True)
    visible = read.count("total_output_tokens", absent_is_zero=True)
    thought = read.count("total_thought_tokens", absent_is_zero=True)
    return TokenCounts(
        uncached_input=total_input - cached + tool_use,
        cached_input=cached,
        output=visible + thought,
        reasoning=thought,
        complete=read.complete,
        input_modalities=_gemini_input_modalities(read.block, total_input + tool_use),
    )


def normalise_gemini_generate_content(usage: object) -> TokenCounts:
    """``usageMetadata`` of a generateContent answer (or of a stream's last chunk)."""
    read = _Reader(usage)
    prompt = read.count("promptTokenCount", absent_is_zero=True)
    cached = read.part_of(read.count("cachedContentTokenCount", absent_is_zero=True), prompt)
    tool_use = read.count("toolUsePromptTokenCount", absent_is_zero=True)
    visible = read.count("candidatesTokenCount", absent_is_zero=True)
    thought = read.count("thoughtsTokenCount", absent_is_zero=True)
    return TokenCounts(
        uncached_input=prompt - cached + tool_use,
        cached_input=cached,
        output=visible + thought,
        reasoning=thought,
        complete=read.complete,
        input_modalities=_generate_content_modalities(read.block, prompt + tool_use),
    )


_DETAIL_LISTS: Final = ("promptTokensDetails", "cacheTokensDetails", "toolUsePromptTokensDetails")


def _generate_content_modalities(usage: Mapping[str, object], prompt: int) -> frozenset[str] | None:
    """The non-text modalities of a generateContent prompt (``None``: no breakdown)."""
    if prompt and not isinstance(usage.get("promptTokensDetails"), list):
        return None
    found: set[str] = set()
    for key in _DETAIL_LISTS:
        items = usage.get(key)
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, Mapping) or not isinstance(item.get("modality"), str):
                return None
            if str(item["modality"]).lower() != "text" and item.get("tokenCount"):
                found.add(str(item["modality"]).lower())
    return frozenset(found)


_GEMINI_MODALITY_LISTS: Final = (
    "input_tokens_by_modality",
    "cached_tokens_by_modality",
    "tool_use_tokens_by_modality",
)


def _gemini_input_modalities(usage: Mapping[str, object], prompt: int) -> frozenset[str] | None:
    """The non-text modalities of a Gemini prompt (``None``: a prompt without the breakdown)."""
    if prompt and not isinstance(usage.get("input_tokens_by_modality"), list):
        return None
    found: set[str] = set()
    for key in _GEMINI_MODALITY_LISTS:
        items = usage.get(key)
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, Mapping):
                return None
            modality, tokens = item.get("modality"), item.get("tokens")
            if not isinstance(modality, str):
                return None
            if modality.lower() != "text" and tokens != 0:
                found.add(modality.lower())
    return frozenset(found)


_NORMALISERS: Final[Mapping[UsageFormat, Callable[[object], TokenCounts]]] = {
    UsageFormat.OPENAI_RESPONSES: normalise_openai_responses,
    UsageFormat.OPENAI_CHAT: normalise_openai_chat,
    UsageFormat.ANTHROPIC_MESSAGES: normalise_anthropic_messages,
    UsageFormat.GEMINI_INTERACTIONS: normalise_gemini_interactions,
    UsageFormat.GEMINI_GENERATE_CONTENT: normalise_gemini_generate_content,
}


def normalise_usage(usage_format: UsageFormat, usage: object) -> TokenCounts:
    """Normalise ``usage`` (the provider's block, or ``None`` when it sent none)."""
    return _NORMALISERS[usage_format](usage)
