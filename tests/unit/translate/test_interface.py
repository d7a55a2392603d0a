"""The one interface: picking a translator, and the Chat-side behaviour both share."""

from __future__ import annotations

import pytest

from flexgrpc.errors import FlexError
from flexgrpc.providers.sse import SseEvent
from tests.unit.translate.chat_pairs import (
    AnthropicTranslator,
    ChatStream,
    ChatTranslator,
    GeminiTranslator,
    translator_for,
)
from tests.unit.translate.support import (
    assemble_completion,
    clock,
    load_events,
    load_json,
    normalized,
    payloads,
    run_stream,
    streamed_text,
)


def test_translator_for_names_the_two_translated_providers() -> None:
    anthropic: ChatTranslator = translator_for("anthropic")
    gemini: ChatTranslator = translator_for("gemini")

    assert isinstance(anthropic, AnthropicTranslator)
    assert isinstance(gemini, GeminiTranslator)


@pytest.mark.parametrize("provider", ["openai", "google", "Anthropic", ""])
def test_translator_for_anything_else_is_a_key_error(provider: str) -> None:
    with pytest.raises(KeyError):
        translator_for(provider)


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_error_frame_is_openais_in_band_error_shape(provider: str) -> None:
    stream: ChatStream = translator_for(provider).stream(model="m", include_usage=True)

    frame = stream.error_frame("upstream connection reset", code="upstream_disconnected")

    assert payloads([frame]) == [
        {
            "error": {
                "message": "upstream connection reset",
                "type": "api_error",
                "param": None,
                "code": "upstream_disconnected",
            }
        }
    ]


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_events_without_json_data_are_ignored(provider: str) -> None:
    stream = translator_for(provider).stream(model="m", include_usage=False)

    assert stream.feed(SseEvent("ping", "", b"event: ping\n\n")) == []
    assert stream.feed(SseEvent("", "keep-alive", b"data: keep-alive\n\n")) == []


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_a_stream_with_no_events_finishes_with_an_error_not_done(provider: str) -> None:
    stream = translator_for(provider).stream(model="m", include_usage=True)

    [frame] = stream.finish()

    assert "error" in payloads([frame])[0]
    assert stream.finish() == []


def test_assembling_frames_that_carry_an_error_raises() -> None:
    stream = translator_for("gemini").stream(model="m", include_usage=False)

    with pytest.raises(FlexError) as caught:
        assemble_completion([stream.error_frame("boom")])

    assert caught.value.code == "unavailable"


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "narrator", "content": "x"}], "messages[0].role"),
        ([{"role": "tool", "content": "x"}], "messages[0].tool_call_id"),
        ([{"role": "system", "content": [{"type": "image_url"}]}], "messages[0].content[0]"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}],
            "messages[0].content[0].image_url.url",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:text/plain;base64,eA=="}}
                    ],
                }
            ],
            "messages[0].content[0].image_url.url",
        ),
    ],
)
@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_malformed_messages_are_invalid_arguments_naming_the_field(
    provider: str, messages: list[dict[str, object]], field: str
) -> None:
    with pytest.raises(FlexError) as caught:
        translator_for(provider).request({"model": "m", "messages": messages})

    assert caught.value.code == "invalid_argument"
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("provider", "model", "name"),
    [
        (provider, model, name)
        for provider, model in (
            ("anthropic", "claude-sonnet-4-5"),
            ("gemini", "gemini-3-flash-preview"),
        )
        for name in ("text", "tool_use")
    ],
)
def test_stream_adds_up_to_the_non_streamed_answer(provider: str, model: str, name: str) -> None:
    translator = (
        AnthropicTranslator(clock=clock)
        if provider == "anthropic"
        else GeminiTranslator(clock=clock)
    )
    native = load_json(provider, f"response_{name}.json")
    frames = run_stream(
        translator.stream(model=model, include_usage=True),
        load_events(provider, f"stream_{name}.sse"),
    )

    expected = translator.response(native, model=model)
    assert streamed_text(frames) == expected["choices"][0]["message"]["content"]
    assert normalized(assemble_completion(frames)) == normalized(expected)
