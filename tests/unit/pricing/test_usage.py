"""Usage normalisers, fed with the simulator's own usage blocks and with garbage."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexgrpc.domain import Provider, Surface, TokenCounts
from flexgrpc.pricing.usage import (
    UsageFormat,
    normalise_anthropic_messages,
    normalise_gemini_interactions,
    normalise_openai_chat,
    normalise_openai_responses,
    normalise_usage,
    usage_format_for,
)
from flexgrpc.sim.config import SimConfig
from flexgrpc.sim.generation import Generation, draw, request_rng
from flexgrpc.sim.wire.anthropic_messages import AnthropicMessages
from flexgrpc.sim.wire.base import WireFormat
from flexgrpc.sim.wire.gemini_interactions import GeminiInteractions
from flexgrpc.sim.wire.openai_chat import OpenAIChat
from flexgrpc.sim.wire.openai_responses import OpenAIResponses


def generation(
    *, model: str, input_tokens: int, cached: int, cache_write: int, reasoning: int
) -> Generation:
    words = tuple(f" w{i}" for i in range(30))
    return Generation(
        model=model,
        requested_tier="flex",
        served_tier="flex",
        created=1_790_000_000.0,
        tokens=words,
        truncated=False,
        input_tokens=input_tokens,
        cached_tokens=cached,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        entropy=(1, 2, 3, 4),
        body={},
    )


def usage_block(wire: WireFormat, answer: Generation) -> Any:
    """The usage block of the simulator's non-streamed answer (the interaction's, for Gemini)."""
    return wire.final_body(answer)["usage"]


def test_openai_responses_usage_from_the_simulator() -> None:
    answer = generation(
        model="gpt-6-sol", input_tokens=1200, cached=400, cache_write=0, reasoning=64
    )
    block = usage_block(OpenAIResponses(), answer)
    assert block["input_tokens"] == 1200
    assert block["output_tokens"] == 94
    assert normalise_openai_responses(block) == TokenCounts(
        uncached_input=800, cached_input=400, cache_write=0, output=94, reasoning=64
    )


def test_openai_chat_usage_from_the_simulator() -> None:
    answer = generation(
        model="gpt-5-mini", input_tokens=1200, cached=400, cache_write=0, reasoning=64
    )
    block = usage_block(OpenAIChat(), answer)
    assert block["prompt_tokens"] == 1200
    assert block["completion_tokens"] == 94
    assert normalise_openai_chat(block) == TokenCounts(
        uncached_input=800, cached_input=400, cache_write=0, output=94, reasoning=64
    )


def test_anthropic_usage_reports_cache_reads_and_writes_outside_input_tokens() -> None:
    answer = generation(
        model="claude-sonnet-5-5", input_tokens=1200, cached=0, cache_write=300, reasoning=0
    )
    block = usage_block(AnthropicMessages(), answer)
    assert block["input_tokens"] == 900
    assert block["cache_creation_input_tokens"] == 300
    assert normalise_anthropic_messages(block) == TokenCounts(
        uncached_input=900, cached_input=0, cache_write=300, output=30, reasoning=0
    )


def test_gemini_thoughts_are_output_outside_total_output_tokens() -> None:
    answer = generation(
        model="gemini-3.8-flash", input_tokens=1200, cached=400, cache_write=0, reasoning=64
    )
    block = usage_block(GeminiInteractions(), answer)
    assert block["total_output_tokens"] == 30
    assert block["total_thought_tokens"] == 64
    assert normalise_gemini_interactions(block) == TokenCounts(
        uncached_input=800, cached_input=400, cache_write=0, output=94, reasoning=64
    )


def test_gemini_tool_use_prompt_tokens_are_billed_as_input() -> None:
    block = {
        "total_input_tokens": 1000,
        "total_cached_tokens": 100,
        "total_output_tokens": 50,
        "total_tool_use_tokens": 25,
    }
    usage = normalise_gemini_interactions(block)
    assert (usage.uncached_input, usage.cached_input, usage.output) == (925, 100, 50)
    assert usage.complete


_SIM_FORMATS: list[tuple[str, str, WireFormat, UsageFormat]] = [
    ("openai", "gpt-5.6-terra", OpenAIResponses(), UsageFormat.OPENAI_RESPONSES),
    ("openai", "gpt-5.6-terra", OpenAIChat(), UsageFormat.OPENAI_CHAT),
    ("anthropic", "claude-haiku-5-5", AnthropicMessages(), UsageFormat.ANTHROPIC_MESSAGES),
    ("gemini", "gemini-3.6-flash", GeminiInteractions(), UsageFormat.GEMINI_INTERACTIONS),
]


@pytest.mark.parametrize(("provider", "model", "wire", "usage_format"), _SIM_FORMATS)
def test_every_simulated_answer_normalises_to_its_token_counts(
    provider: str, model: str, wire: WireFormat, usage_format: UsageFormat
) -> None:
    """Across many seeded requests (cache hits, cache writes, reasoning or not) the decomposition
    adds back up to what the simulator generated."""
    config = SimConfig()
    behavior = config.behavior(provider, "standard")
    for number in range(1, 301):
        rng = request_rng(seed=7, number=number)
        _, answer = draw(
            rng,
            config,
            behavior,
            provider=provider,
            model=model,
            body={},
            raw_body_size=random.Random(number).randint(40, 40_000),
            requested_tier=None,
            canonical_tier="standard",
            max_tokens=None,
            created=1_790_000_000.0,
        )
        usage = normalise_usage(usage_format, wire.final_body(answer)["usage"])
        assert usage.complete
        assert usage.prompt_tokens == answer.input_tokens
        assert usage.cached_input == answer.cached_tokens
        assert usage.cache_write == (answer.cache_write_tokens if provider == "anthropic" else 0)
        assert usage.output == answer.output_tokens + answer.reasoning_tokens
        assert usage.reasoning == answer.reasoning_tokens


def test_usage_format_follows_the_upstream_provider() -> None:
    assert usage_format_for(Provider.OPENAI, Surface.RESPONSES) is UsageFormat.OPENAI_RESPONSES
    assert usage_format_for(Provider.OPENAI, Surface.CHAT_COMPLETIONS) is UsageFormat.OPENAI_CHAT
    # Chat Completions in front of Claude or Gemini still reads the native usage block.
    assert (
        usage_format_for(Provider.ANTHROPIC, Surface.CHAT_COMPLETIONS)
        is UsageFormat.ANTHROPIC_MESSAGES
    )
    assert (
        usage_format_for(Provider.GEMINI, Surface.CHAT_COMPLETIONS)
        is UsageFormat.GEMINI_INTERACTIONS
    )


NORMALISERS = [
    normalise_openai_responses,
    normalise_openai_chat,
    normalise_anthropic_messages,
    normalise_gemini_interactions,
]


@pytest.mark.parametrize("normalise", NORMALISERS)
@pytest.mark.parametrize("block", [None, [], "usage", 42])
def test_no_usage_block_is_zero_and_incomplete(normalise: Any, block: object) -> None:
    assert normalise(block) == TokenCounts(complete=False)


@pytest.mark.parametrize(
    "block",
    [
        {"input_tokens": "12", "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3},
        {"input_tokens": 12.0, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3},
        {"input_tokens": True, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3},
        {"input_tokens": -5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3},
        {"input_tokens": 12, "output_tokens": 3},  # OpenAI always sends the cached count
        {"input_tokens": 12, "input_tokens_details": [], "output_tokens": 3},
        {"input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3},
    ],
)
def test_openai_garbage_counts_are_zero_and_incomplete(block: dict[str, Any]) -> None:
    usage = normalise_openai_responses(block)
    assert not usage.complete
    assert min(usage.uncached_input, usage.cached_input, usage.output, usage.reasoning) >= 0


def test_a_cached_count_larger_than_the_prompt_is_clamped_and_incomplete() -> None:
    usage = normalise_openai_chat(
        {
            "prompt_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 25},
            "completion_tokens": 4,
        }
    )
    assert (usage.uncached_input, usage.cached_input, usage.complete) == (0, 10, False)
    usage = normalise_openai_responses(
        {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 4,
            "output_tokens_details": {"reasoning_tokens": 9},
        }
    )
    assert (usage.output, usage.reasoning, usage.complete) == (4, 4, False)


def test_missing_reasoning_details_do_not_matter_for_price() -> None:
    usage = normalise_openai_chat(
        {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens": 4}
    )
    assert usage == TokenCounts(uncached_input=8, cached_input=2, output=4, reasoning=0)


def test_gemini_omits_zero_fields_so_absent_counts_are_zero() -> None:
    assert normalise_gemini_interactions({}) == TokenCounts()
    # Without input_tokens_by_modality the prompt's modalities are not known (None).
    assert normalise_gemini_interactions({"total_input_tokens": 7}) == TokenCounts(
        uncached_input=7, input_modalities=None
    )
    bad = normalise_gemini_interactions({"total_input_tokens": 7, "total_thought_tokens": "x"})
    assert not bad.complete


def test_anthropic_null_cache_counts_mean_none() -> None:
    usage = normalise_anthropic_messages(
        {
            "input_tokens": 10,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None,
            "output_tokens": 5,
        }
    )
    assert usage == TokenCounts(uncached_input=10, output=5)
    assert not normalise_anthropic_messages({"input_tokens": 10}).complete


def test_anthropic_one_hour_cache_writes_are_flagged_incomplete() -> None:
    """They cost more than the 5-minute write rate the catalog holds."""
    usage = normalise_anthropic_messages(
        {
            "input_tokens": 10,
            "cache_creation_input_tokens": 400,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 400},
            "output_tokens": 5,
        }
    )
    assert usage.cache_write == 400
    assert not usage.complete


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "input_tokens",
                    "output_tokens",
                    "prompt_tokens",
                    "completion_tokens",
                    "input_tokens_details",
                    "output_tokens_details",
                    "prompt_tokens_details",
                    "completion_tokens_details",
                    "cached_tokens",
                    "reasoning_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "cache_creation",
                    "ephemeral_1h_input_tokens",
                    "total_input_tokens",
                    "total_cached_tokens",
                    "total_output_tokens",
                    "total_thought_tokens",
                    "total_tool_use_tokens",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_json, st.sampled_from(NORMALISERS))
def test_normalisers_never_raise_and_never_go_negative(block: object, normalise: Any) -> None:
    usage = normalise(block)
    counts = (usage.uncached_input, usage.cached_input, usage.cache_write, usage.output)
    assert all(type(count) is int and count >= 0 for count in counts)
    assert 0 <= usage.reasoning <= usage.output


def test_gemini_reports_the_non_text_modalities_of_the_prompt() -> None:
    def modalities(**lists: object) -> frozenset[str] | None:
        usage = {"total_input_tokens": 30, "total_cached_tokens": 10, **lists}
        return normalise_gemini_interactions(usage).input_modalities

    text = [{"modality": "text", "tokens": 30}]
    assert modalities(input_tokens_by_modality=text) == frozenset()
    mixed = [{"modality": "text", "tokens": 20}, {"modality": "AUDIO", "tokens": 10}]
    assert modalities(input_tokens_by_modality=mixed) == {"audio"}
    cached_image = [{"modality": "image", "tokens": 10}]
    assert modalities(input_tokens_by_modality=text, cached_tokens_by_modality=cached_image) == {
        "image"
    }
    assert modalities(input_tokens_by_modality=[{"tokens": 3}]) is None


def test_openai_chat_reports_audio_prompt_tokens() -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 4},
    }
    assert normalise_openai_chat(usage).input_modalities == {"audio"}
    usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
    assert normalise_openai_chat(usage).input_modalities == frozenset()
