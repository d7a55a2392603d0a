"""Properties over generated conversations, for both providers:

- chat → native → chat: an assistant turn sent as history, answered back as the provider would
  answer it, comes out with the same text, tool calls (ids, names, arguments) and a finish
  reason that matches; usage adds up (total = prompt + completion, the provider's categories
  land where Chat expects them).
- stream ≡ non-stream: the same answer streamed in arbitrary fragments assembles into exactly
  the non-streamed chat.completion.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.translate.chat_pairs import AnthropicTranslator, GeminiTranslator
from tests.unit.translate.support import (
    assemble_completion,
    chunks,
    clock,
    normalized,
    run_stream,
    sse,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
arguments = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4)
names = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
texts = st.text(max_size=40)
counts = st.integers(0, 100_000)


def anthropic_call_ids() -> st.SearchStrategy[str]:
    return st.from_regex(r"toolu_[A-Za-z0-9]{8,24}", fullmatch=True)


def gemini_call_ids() -> st.SearchStrategy[str]:
    signature = st.from_regex(r"[A-Za-z0-9+/]{4,40}={0,2}", fullmatch=True)
    plain = st.from_regex(r"[a-z0-9]{8}", fullmatch=True)
    return st.builds(
        lambda call_id, sig: f"{call_id}__thought__{sig}" if sig else call_id,
        plain,
        st.none() | signature,
    )


def assistant_turns(ids: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    calls = st.lists(st.tuples(ids, names, arguments), max_size=3, unique_by=lambda c: c[0])
    return st.builds(
        lambda text, calls: {
            "role": "assistant",
            "content": text,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for call_id, name, args in calls
            ],
        },
        texts,
        calls,
    ).filter(lambda turn: turn["content"] or turn["tool_calls"])


def fragments(data: st.DataObject, text: str) -> list[str]:
    """``text`` cut at arbitrary points (every piece non-empty)."""
    if not text:
        return []
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=4)))
    edges = [0, *(c for c in cuts if c < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges) if a < b]


def check_same_turn(turn: dict[str, Any], completion: dict[str, Any]) -> None:
    message = completion["choices"][0]["message"]
    calls = turn["tool_calls"]
    assert message["content"] == (None if calls and not turn["content"] else turn["content"])
    assert [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls") or []
    ] == [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]
    assert completion["choices"][0]["finish_reason"] == ("tool_calls" if calls else "stop")
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] <= usage["prompt_tokens"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] <= usage["completion_tokens"]


# -- Anthropic -------------------------------------------------------------------------------


def anthropic_answer(native_request: dict[str, Any], usage: dict[str, int]) -> dict[str, Any]:
    """What Anthropic would return for the request's last assistant turn."""
    blocks = native_request["messages"][-1]["content"]
    has_calls = any(block["type"] == "tool_use" for block in blocks)
    return {
        "id": "msg_01RoundTrip",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": blocks,
        "stop_reason": "tool_use" if has_calls else "end_turn",
        "stop_sequence": None,
        "usage": {**usage, "service_tier": "standard"},
    }


def anthropic_events(data: st.DataObject, message: dict[str, Any]) -> list[Any]:
    start_usage = {**message["usage"], "output_tokens": 1}
    events = [
        sse(
            "message_start",
            {"type": "message_start", "message": {**message, "content": [], "usage": start_usage}},
        )
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            deltas = [
                {"type": "text_delta", "text": piece} for piece in fragments(data, block["text"])
            ]
        else:
            shell = {**block, "input": {}}
            events.append(
                sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": shell},
                )
            )
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in fragments(data, raw)]
        events += [
            sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    events += [
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]
    return events


@settings(max_examples=60, deadline=None)
@given(
    turn=assistant_turns(anthropic_call_ids()),
    usage=st.fixed_dictionaries(
        {
            "input_tokens": counts,
            "cache_read_input_tokens": counts,
            "cache_creation_input_tokens": counts,
            "output_tokens": counts,
        }
    ),
    data=st.data(),
)
def test_anthropic_round_trip_and_stream_equivalence(
    turn: dict[str, Any], usage: dict[str, int], data: st.DataObject
) -> None:
    translator = AnthropicTranslator(clock=clock)
    model = "claude-sonnet-4-5"
    native_request = translator.request(
        {"model": model, "messages": [{"role": "user", "content": "Go"}, turn]}
    )
    native_answer = anthropic_answer(native_request, usage)

    completion = translator.response(native_answer, model=model)

    check_same_turn(turn, completion)
    chat_usage = completion["usage"]
    assert chat_usage["prompt_tokens"] == (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
    )
    assert chat_usage["prompt_tokens_details"]["cached_tokens"] == usage["cache_read_input_tokens"]
    assert chat_usage["completion_tokens"] == usage["output_tokens"]

    frames = run_stream(
        translator.stream(model=model, include_usage=True), anthropic_events(data, native_answer)
    )
    chunks(frames)  # every frame is a valid chunk
    assert normalized(assemble_completion(frames)) == normalized(completion)


# -- Gemini ----------------------------------------------------------------------------------


def gemini_answer(native_request: dict[str, Any], usage: dict[str, int]) -> dict[str, Any]:
    """What Gemini would return for the request's last assistant turn (its output steps)."""
    steps = native_request["input"][1:]
    has_calls = any(step["type"] == "function_call" for step in steps)
    return {
        "id": "v1_RoundTrip",
        "object": "interaction",
        "model": "gemini-3-flash-preview",
        "status": "requires_action" if has_calls else "completed",
        "service_tier": "flex",
        "steps": steps,
        "usage": usage,
    }


def gemini_events(data: st.DataObject, interaction: dict[str, Any]) -> list[Any]:
    shell = {k: interaction[k] for k in ("id", "object", "model")}
    events = [
        sse(
            "interaction.created",
            {
                "event_type": "interaction.created",
                "interaction": {**shell, "status": "in_progress"},
            },
        )
    ]
    for index, step in enumerate(interaction["steps"]):
        if step["type"] == "model_output":
            events.append(
                sse(
                    "step.start",
                    {"event_type": "step.start", "index": index, "step": {"type": "model_output"}},
                )
            )
            deltas = [
                {"type": "text", "text": p} for p in fragments(data, step["content"][0]["text"])
            ]
        elif step["type"] == "thought":
            events.append(
                sse(
                    "step.start",
                    {"event_type": "step.start", "index": index, "step": {"type": "thought"}},
                )
            )
            deltas = [{"type": "thought_signature", "signature": step["signature"]}]
        else:
            whole = data.draw(st.booleans())  # arguments whole in step.start, or streamed
            start = {**step, "arguments": step["arguments"] if whole else {}}
            events.append(
                sse("step.start", {"event_type": "step.start", "index": index, "step": start})
            )
            raw = "" if whole else json.dumps(step["arguments"])
            deltas = [{"type": "arguments_delta", "arguments": p} for p in fragments(data, raw)]
        events += [
            sse("step.delta", {"event_type": "step.delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(sse("step.stop", {"event_type": "step.stop", "index": index}))
    completed = {
        **shell,
        "status": interaction["status"],
        "service_tier": "flex",
        "usage": interaction["usage"],
    }
    events.append(
        sse(
            "interaction.completed",
            {"event_type": "interaction.completed", "interaction": completed},
        )
    )
    return events


@settings(max_examples=60, deadline=None)
@given(
    turn=assistant_turns(gemini_call_ids()),
    usage=st.fixed_dictionaries(
        {
            "total_input_tokens": counts,
            "total_output_tokens": counts,
            "total_thought_tokens": counts,
            "total_tool_use_tokens": counts,
        }
    ),
    cached_share=st.floats(0, 1),
    data=st.data(),
)
def test_gemini_round_trip_and_stream_equivalence(
    turn: dict[str, Any], usage: dict[str, int], cached_share: float, data: st.DataObject
) -> None:
    usage = {**usage, "total_cached_tokens": int(usage["total_input_tokens"] * cached_share)}
    translator = GeminiTranslator(clock=clock)
    model = "gemini-3-flash-preview"
    native_request = translator.request(
        {"model": model, "messages": [{"role": "user", "content": "Go"}, turn]}
    )
    native_answer = gemini_answer(native_request, usage)

    completion = translator.response(native_answer, model=model)

    check_same_turn(turn, completion)
    chat_usage = completion["usage"]
    assert (
        chat_usage["prompt_tokens"] == usage["total_input_tokens"] + usage["total_tool_use_tokens"]
    )
    assert (
        chat_usage["completion_tokens"]
        == usage["total_output_tokens"] + usage["total_thought_tokens"]
    )
    assert (
        chat_usage["completion_tokens_details"]["reasoning_tokens"] == usage["total_thought_tokens"]
    )

    frames = run_stream(
        translator.stream(model=model, include_usage=True), gemini_events(data, native_answer)
    )
    chunks(frames)
    assert normalized(assemble_completion(frames)) == normalized(completion)
