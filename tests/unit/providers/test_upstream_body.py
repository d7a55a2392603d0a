"""The upstream body: the caller's JSON with the router's fields, values unchanged."""

from __future__ import annotations

import dataclasses
import json

from flexgrpc.domain import UpstreamTier
from flexgrpc.providers.openai import ChatCompletionsAdapter, ResponsesAdapter
from tests.jobs import responses_job


def sent(body: dict[str, object], *, stream: bool = True) -> dict[str, object]:
    job = dataclasses.replace(responses_job(window_ms=None), body=body)
    request = ResponsesAdapter().build(job, UpstreamTier.STANDARD, "sk-t", stream=stream)
    return dict(json.loads(request.body.decode("utf-8")))


def test_values_pass_through_exactly_including_integers_beyond_64_bits() -> None:
    body = {"model": "gpt-5-mini", "input": "héllo ✓", "metadata": {"n": 2**70, "f": 1e-05},
            "temperature": 0.1, "max_output_tokens": 12}  # fmt: skip
    assert sent(body) == {**body, "stream": True, "service_tier": "default"}


def test_a_non_streamed_request_stays_non_streamed() -> None:
    body = {"model": "gpt-5-mini", "input": "hi", "stream": False}
    assert sent(body, stream=False) == {**body, "service_tier": "default"}
    assert "stream_options" not in ChatCompletionsAdapter().prepare_body(
        responses_job(window_ms=None), UpstreamTier.STANDARD, stream=False
    )
