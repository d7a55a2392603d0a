"""The flex race on a translated pair: an Anthropic Messages caller (the ``anthropic`` SDK)
reaching ``gpt-5-mini`` races OpenAI's flex tier through the Chat API, wins, and is billed
exactly as a native request: the usage record's money is the catalog's price of its tokens."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx

from flexgrpc.domain import Provider, TokenCounts
from flexgrpc.pricing.catalog import PriceCatalog
from flexgrpc.pricing.cost import micro_amounts, price_request
from flexgrpc.sim import SimulatorThread
from tests.compat.conftest import OPENAI_MODEL, WINDOW, Org, RestServer


def usage_record(rest: RestServer, org: Org, request_id: str) -> dict[str, Any]:
    reply = httpx.get(
        f"{rest.url}/v1/organizations/-/usageRecords/{request_id}",
        headers={"authorization": f"Bearer {org.api_key}"},
    )
    reply.raise_for_status()
    return dict(reply.json())


def test_a_messages_caller_wins_flex_on_an_openai_model_and_is_billed_exactly(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    api = anthropic.Anthropic(base_url=rest.url, api_key=org.api_key, max_retries=0)
    raw = api.messages.with_raw_response.create(
        model=OPENAI_MODEL,
        max_tokens=64,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"start_within": WINDOW},
    )
    message = raw.parse()
    headers = raw.headers
    assert message.type == "message"
    assert message.content[0].type == "text"
    assert headers["x-flexinference-tier"] == "flex"
    (seen,) = sim.records
    assert (seen.path, seen.service_tier) == ("/v1/chat/completions", "flex")

    record = usage_record(rest, org, headers["x-flexinference-request-id"])
    assert (record["surface"], record["outcome"], record["servedTier"]) == (
        "SURFACE_MESSAGES", "RACE_OUTCOME_FLEX_WON", "SERVED_TIER_FLEX",
    )  # fmt: skip
    tokens = record["tokens"]
    counted = TokenCounts(
        uncached_input=int(tokens.get("uncachedInputTokens", 0)),
        cached_input=int(tokens.get("cachedInputTokens", 0)),
        output=int(tokens.get("outputTokens", 0)),
        reasoning=int(tokens.get("reasoningTokens", 0)),
    )
    # What the caller was told it used is what was billed.
    usage = message.usage
    assert usage.input_tokens + (usage.cache_read_input_tokens or 0) == counted.prompt_tokens
    assert usage.output_tokens == counted.output
    # The money is the catalog's price of those tokens, exactly, as for a native request.
    expected = micro_amounts(
        price_request(PriceCatalog.load(), OPENAI_MODEL, "flex", counted, True, Provider.OPENAI)
    )
    cost = record["cost"]
    assert int(cost["actualMicroUsd"]) == expected.actual == int(headers["x-flexinference-cost"])
    assert int(cost["standardMicroUsd"]) == expected.standard
    assert (
        int(cost["savingsMicroUsd"]) == expected.savings == int(headers["x-flexinference-savings"])
    )
    assert int(cost["commissionMicroUsd"]) == expected.commission > 0


def test_a_streamed_translated_answer_carries_its_cost_on_the_final_usage(
    rest: RestServer, org: Org
) -> None:
    body = {
        "model": OPENAI_MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "start_within": WINDOW,
        "include_cost": True,
    }
    with httpx.stream(
        "POST", f"{rest.url}/v1/messages", json=body,
        headers={"x-api-key": org.api_key, "anthropic-version": "2023-06-01"}, timeout=30,
    ) as reply:  # fmt: skip
        events = [
            json.loads(line.removeprefix("data: "))
            for line in reply.iter_lines()
            if line.startswith("data: ")
        ]
        request_id = reply.headers["x-flexinference-request-id"]
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    (delta,) = [event for event in events if event["type"] == "message_delta"]
    cost = delta["usage"]["cost"]
    record = usage_record(rest, org, request_id)
    assert cost == {"total_micro_usd": int(record["cost"]["actualMicroUsd"]), "currency": "USD"}
