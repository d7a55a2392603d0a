"""Money end to end: every answer priced, commission only on real flex savings, ledger balanced."""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

import pytest
from flexinference.v1 import route_pb2

from flexgrpc.db.models import UsageRecord
from flexgrpc.ledger.audit import audit
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.pricing.money import parse_usd_per_million, round_half_even
from flexgrpc.sim import SimConfig, SimulatorThread
from tests.integration.conftest import Caller
from tests.integration.test_route import OPENAI_MODEL, body, responses, sse_events
from tests.serverproc import start_server


def _record(records: Any, request_id: str) -> UsageRecord:
    with records() as session:
        found = session.get(UsageRecord, request_id)
    assert found is not None
    return found


def test_a_flex_win_reports_cost_and_bills_a_fifth_of_the_savings(
    stub: Any, org: Caller, records: Any
) -> None:
    _, meta, _ = responses(stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s")
    record = _record(records, meta["x-flexinference-request-id"])
    assert record.priced
    assert record.standard_nano_usd == 2 * record.actual_nano_usd  # flex is half price here
    assert record.savings_nano_usd == record.standard_nano_usd - record.actual_nano_usd
    assert record.commission_nano_usd * 5 == record.savings_nano_usd
    assert int(meta["x-flexinference-cost"]) == round(record.actual_nano_usd / 1000)
    assert int(meta["x-flexinference-commission"]) == round(record.commission_nano_usd / 1000)
    assert record.output_tokens > 0
    prices = json.loads(record.prices)
    assert prices["actual"]["tier"] == "flex"
    assert prices["standard"]["usd_per_million_tokens"]["input"] == "0.25"
    ledger = LedgerStore(records)
    assert ledger.balance(org.organization_id) == record.commission_nano_usd
    assert audit(records) == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"model": OPENAI_MODEL, "input": "hi", "start_within": "default"}, "fixed_tier"),
        ({"model": "claude-sonnet-5-5", "messages": [{"role": "user", "content": "hi"}],
          "max_tokens": 50, "start_within": "auto"}, "anthropic"),
    ],
)  # fmt: skip
def test_no_commission_without_a_flex_saving(
    stub: Any, org: Caller, records: Any, fields: dict[str, Any], reason: str
) -> None:
    if fields["model"].startswith("claude"):
        call = stub.CreateMessage(
            route_pb2.CreateMessageRequest(body=body(**fields)), metadata=org.metadata
        )
        list(call)
        meta = dict(call.initial_metadata())
    else:
        _, meta, _ = responses(stub, org, **fields)
    record = _record(records, meta["x-flexinference-request-id"])
    assert record.commission_nano_usd == 0
    assert record.savings_nano_usd == 0
    assert json.loads(record.prices)["commission_reason"] == reason
    assert meta["x-flexinference-commission"] == "0"


def test_a_race_that_fell_back_bills_nothing(
    stub: Any, org: Caller, records: Any, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")
    _, meta, _ = responses(stub, org, model=OPENAI_MODEL, input="hi", start_within="00h-00m-05s")
    record = _record(records, meta["x-flexinference-request-id"])
    assert (record.outcome, record.commission_nano_usd) == ("fell_back", 0)
    assert record.actual_nano_usd == record.standard_nano_usd > 0


def test_include_cost_puts_cost_on_the_streams_usage_and_trailers_carry_money(
    stub: Any, org: Caller, records: Any
) -> None:
    call = stub.CreateResponse(
        route_pb2.CreateResponseRequest(
            body=body(
                model=OPENAI_MODEL,
                input="hi",
                stream=True,
                include_cost=True,
                start_within="00h-00m-30s",
            )
        ),
        metadata=org.metadata,
    )
    chunks = [m.data for m in call]
    trailers = dict(call.trailing_metadata())
    completed = sse_events(chunks)[-1]
    cost = completed["response"]["usage"]["cost"]
    request_id = dict(call.initial_metadata())["x-flexinference-request-id"]
    record = _record(records, request_id)
    assert cost == {"total_micro_usd": round(record.actual_nano_usd / 1000), "currency": "USD"}
    assert int(trailers["x-flexinference-cost"]) == cost["total_micro_usd"]
    # Without include_cost the provider's events are relayed unchanged: no cost field.
    plain = [m.data for m in stub.CreateResponse(
        route_pb2.CreateResponseRequest(body=body(model=OPENAI_MODEL, input="hi", stream=True,
                                                  start_within="00h-00m-30s")),
        metadata=org.metadata,
    )]  # fmt: skip
    assert "cost" not in sse_events(plain[-1:])[0]["response"]["usage"]


def test_chat_stream_with_include_cost_gets_a_usage_chunk_with_cost(stub: Any, org: Caller) -> None:
    messages = [{"role": "user", "content": "hi"}]
    chunks = [
        m.data
        for m in stub.CreateChatCompletion(
            route_pb2.CreateChatCompletionRequest(
                body=body(
                    model=OPENAI_MODEL,
                    messages=messages,
                    stream=True,
                    include_cost=True,
                    start_within="00h-00m-30s",
                )
            ),
            metadata=org.metadata,
        )
    ]
    # Events that arrived together share a message: the stream, not its messages, is what
    # ends in the usage chunk and [DONE].
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")
    usage_chunk = sse_events(chunks)[-1]  # the last event before [DONE]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["cost"]["currency"] == "USD"
    assert usage_chunk["usage"]["cost"]["total_micro_usd"] >= 0


def test_an_invalid_price_override_stops_the_server(tmp_path: pathlib.Path) -> None:
    override = tmp_path / "prices.json"
    override.write_text('{"schema": 1, "models": [{"provider": "openai"}]}')
    with pytest.raises(RuntimeError, match="price catalog"):
        start_server(
            tmp_path,
            {
                "FLEXGRPC_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                "FLEXGRPC_PRICE_CATALOG": str(override),
            },
            argv=[sys.executable, "-m", "flexgrpc.cli", "serve", "--grpc-port", "0"],
            timeout=20,
        )


@pytest.mark.parametrize(
    ("model", "window"),
    [("claude-sonnet-5-5", "default"), ("gemini-3-flash-preview", "00h-00m-30s")],
)
def test_include_cost_on_chat_translated_to_claude_and_gemini(
    stub: Any, org: Caller, records: Any, model: str, window: str
) -> None:
    call = stub.CreateChatCompletion(
        route_pb2.CreateChatCompletionRequest(
            body=body(
                model=model,
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                include_cost=True,
                start_within=window,
            )
        ),
        metadata=org.metadata,
    )
    chunks = [m.data for m in call]
    request_id = dict(call.initial_metadata())["x-flexinference-request-id"]
    # Events that arrived together share a message: the stream, not its messages, is what
    # ends in the usage chunk and [DONE].
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")
    usage_chunk = sse_events(chunks)[-1]  # the last event before [DONE]
    assert usage_chunk["choices"] == []
    record = _record(records, request_id)
    expected = round(record.actual_nano_usd / 1000) if record.priced else None
    assert usage_chunk["usage"]["cost"] == {"total_micro_usd": expected, "currency": "USD"}


#: genai-prices 0.2.3's rates (USD per 1M: input, cached input, output), standard then flex.
GENAI_PRICES_RATES = {
    "o3": (("2", "0.5", "8"), ("1", "0.25", "4")),
    "o4-mini": (("1.1", "0.275", "4.4"), ("0.55", "0.138", "2.2")),
}


@pytest.mark.parametrize("model", ["o3", "o4-mini", "o3-2025-04-16"])
def test_a_flex_win_on_o3_and_o4_mini_bills_exactly(
    stub: Any, org: Caller, records: Any, sim: SimulatorThread, model: str
) -> None:
    sim.config = SimConfig(seed=11, cached_share=1.0)
    _, meta, _ = responses(stub, org, model=model, input="hi", start_within="00h-00m-30s")
    record = _record(records, meta["x-flexinference-request-id"])
    assert (record.outcome, record.served_tier, record.priced) == ("flex_won", "flex", True)
    assert record.cached_input_tokens > 0
    standard, flex = GENAI_PRICES_RATES[model.removesuffix("-2025-04-16")]

    def nano(rates: tuple[str, str, str]) -> int:
        input_rate, cached_rate, output_rate = (parse_usd_per_million(r) for r in rates)
        pico = (
            record.uncached_input_tokens * input_rate
            + record.cached_input_tokens * cached_rate
            + record.output_tokens * output_rate
        )
        return round_half_even(pico, 1000)

    assert record.actual_nano_usd == nano(flex)
    assert record.standard_nano_usd == nano(standard)
    assert record.savings_nano_usd == nano(standard) - nano(flex) > 0
    assert record.commission_nano_usd == round_half_even(record.savings_nano_usd * 20, 100)
    assert int(meta["x-flexinference-cost"]) == round_half_even(record.actual_nano_usd, 1000)
    assert int(meta["x-flexinference-commission"]) == round_half_even(
        record.commission_nano_usd, 1000
    )
    prices = json.loads(record.prices)
    for side, rates in (("actual", flex), ("standard", standard)):
        assert prices[side]["layer"] == "genai-prices"
        assert prices[side]["origin"].startswith("genai-prices@0.2.")
        assert prices[side]["data_version"].endswith("(bundled)")
        written = prices[side]["usd_per_million_tokens"]
        assert (written["input"], written["cached_input"], written["output"]) == rates
