"""UsageService over gRPC: records of real routed requests, filters, pages, summaries, scoping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from flexinference.v1 import route_pb2, types_pb2, usage_pb2, usage_pb2_grpc
from google.protobuf import timestamp_pb2

from tests.integration.conftest import Caller, new_caller
from tests.integration.test_route import OPENAI_MODEL, body, responses
from tests.richstatus import rich_error

GEMINI = "gemini-3-flash-preview"


def _stamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


@pytest.fixture
def usage(routed: Any) -> Any:
    with grpc.insecure_channel(routed[2]) as channel:
        yield usage_pb2_grpc.UsageServiceStub(channel)


def _traffic(stub: Any, caller: Caller) -> list[str]:
    ids = []
    for model, window in ((OPENAI_MODEL, "00h-00m-30s"), (OPENAI_MODEL, "default"),
                          (OPENAI_MODEL, "00h-00m-30s")):  # fmt: skip
        _, meta, _ = responses(stub, caller, model=model, input="hi", start_within=window)
        ids.append(meta["x-flexinference-request-id"])
    return ids


def test_records_list_newest_first_with_filters_and_pages(
    stub: Any, usage: Any, org: Caller
) -> None:
    ids = _traffic(stub, org)
    listed = usage.ListUsageRecords(
        usage_pb2.ListUsageRecordsRequest(parent="organizations/-"), metadata=org.metadata
    )
    assert [r.request_id for r in listed.usage_records] == ids[::-1]
    first = listed.usage_records[0]
    assert first.name == f"organizations/{org.organization_id}/usageRecords/{ids[-1]}"
    assert first.outcome == types_pb2.RACE_OUTCOME_FLEX_WON
    assert first.served_tier == types_pb2.SERVED_TIER_FLEX
    assert first.requested_tier.flex_window.seconds == 30
    assert first.api_key_id == org.key_id
    flex_only = usage.ListUsageRecords(
        usage_pb2.ListUsageRecordsRequest(
            parent="organizations/-", served_tier=types_pb2.SERVED_TIER_FLEX
        ),
        metadata=org.metadata,
    )
    assert [r.request_id for r in flex_only.usage_records] == [ids[2], ids[0]]
    free = usage.ListUsageRecords(
        usage_pb2.ListUsageRecordsRequest(
            parent="organizations/-", outcome=types_pb2.RACE_OUTCOME_FREE_TIER
        ),
        metadata=org.metadata,
    )
    assert [r.request_id for r in free.usage_records] == [ids[1]]
    seen, token = [], ""
    while True:
        page = usage.ListUsageRecords(
            usage_pb2.ListUsageRecordsRequest(
                parent="organizations/-", page_size=1, page_token=token
            ),
            metadata=org.metadata,
        )
        seen += [r.request_id for r in page.usage_records]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids[::-1]
    one = usage.GetUsageRecord(
        usage_pb2.GetUsageRecordRequest(name=first.name), metadata=org.metadata
    )
    assert one == first


def test_an_organization_sees_only_its_own_usage(
    stub: Any, usage: Any, org: Caller, routed: Any
) -> None:
    ids = _traffic(stub, org)
    other = new_caller(routed[1], "Other Org")
    theirs = usage.ListUsageRecords(
        usage_pb2.ListUsageRecordsRequest(parent="organizations/-"), metadata=other.metadata
    )
    assert list(theirs.usage_records) == []
    with pytest.raises(grpc.RpcError) as caught:
        usage.ListUsageRecords(
            usage_pb2.ListUsageRecordsRequest(parent=f"organizations/{org.organization_id}"),
            metadata=other.metadata,
        )
    assert rich_error(caught.value).reason == "permission_denied"
    name = f"organizations/{other.organization_id}/usageRecords/{ids[0]}"
    with pytest.raises(grpc.RpcError) as caught:
        usage.GetUsageRecord(usage_pb2.GetUsageRecordRequest(name=name), metadata=other.metadata)
    assert rich_error(caught.value).reason == "not_found"


def test_summaries_group_by_model_and_day(stub: Any, usage: Any, org: Caller) -> None:
    _traffic(stub, org)
    call = stub.CreateInteraction(
        route_pb2.CreateInteractionRequest(
            body=body(model=GEMINI, input="hi", start_within="00h-00m-30s")
        ),
        metadata=org.metadata,
    )
    assert list(call)
    now = dt.datetime.now(dt.UTC)
    request = usage_pb2.SummarizeUsageRequest(
        parent="organizations/-",
        start_time=_stamp(now - dt.timedelta(days=1)),
        end_time=_stamp(now + dt.timedelta(days=1)),
    )
    summary = usage.SummarizeUsage(request, metadata=org.metadata)
    by_model = {s.model: s for s in summary.summaries}
    assert set(by_model) == {OPENAI_MODEL, GEMINI}
    openai = by_model[OPENAI_MODEL]
    assert (openai.request_count, openai.flex_race_count, openai.flex_won_count) == (3, 2, 2)
    assert openai.flex_share == pytest.approx(2 / 3)
    assert openai.flex_win_rate == 1.0
    assert openai.day.year == now.year
    assert summary.total.request_count == 4
    assert summary.total.cost.currency_code == "USD"
    none = usage.SummarizeUsage(
        usage_pb2.SummarizeUsageRequest(
            parent="organizations/-", start_time=request.start_time, end_time=request.end_time,
            group_by=usage_pb2.SUMMARY_GROUPING_NONE,
        ),
        metadata=org.metadata,
    )  # fmt: skip
    assert [s.request_count for s in none.summaries] == [4]
    with pytest.raises(grpc.RpcError) as caught:
        usage.SummarizeUsage(
            usage_pb2.SummarizeUsageRequest(parent="organizations/-"), metadata=org.metadata
        )
    assert rich_error(caught.value).reason == "invalid_argument"
