"""Overview: what flex saved in a month (from the Usage service's summaries), per day and per
model, the latest requests, and the same numbers as CSV."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

from flexinference.v1 import types_pb2, usage_pb2
from google.protobuf import timestamp_pb2
from starlette.requests import Request
from starlette.responses import Response

from flexgrpc.dashboard.formatting import decimal_usd
from flexgrpc.dashboard.periods import Month
from flexgrpc.dashboard.rpc import RpcFailure, failure_from
from flexgrpc.dashboard.web import Visit, Web
from flexgrpc.errors import FlexError

_OWN = "organizations/-"
_RECENT = 10
#: Messages a redirect may ask the next page to show (never text from the query string).
DONE = {
    "signed-up": "Welcome! Your organization is ready: add a provider key, then an API key.",
}


def _stamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _day(summary: usage_pb2.UsageSummary) -> str:
    d = summary.day
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


@dataclass
class MonthUsage:
    month: Month
    total: usage_pb2.UsageSummary
    by_day: list[usage_pb2.UsageSummary]
    by_model: list[usage_pb2.UsageSummary]


async def summaries(
    web: Web, visit: Visit, month: Month, grouping: usage_pb2.SummaryGrouping.ValueType
) -> tuple[list[usage_pb2.UsageSummary], usage_pb2.UsageSummary]:
    """Every summary of the month in ``grouping`` (all pages) and the month's total."""
    found: list[usage_pb2.UsageSummary] = []
    token = ""
    while True:
        answer = await web.call(
            visit,
            "UsageService/SummarizeUsage",
            usage_pb2.SummarizeUsageRequest(
                parent=_OWN,
                start_time=_stamp(month.start),
                end_time=_stamp(month.end),
                group_by=grouping,
                page_size=1000,
                page_token=token,
            ),
            usage_pb2.SummarizeUsageResponse,
        )
        found.extend(answer.summaries)
        token = answer.next_page_token
        if not token:
            return found, answer.total


def _month(request: Request) -> Month:
    return Month.parse(request.query_params.get("period"), dt.datetime.now(dt.UTC).date())


async def overview(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        month = _month(request)
        # Independent calls, made at once: each waits on its own database query.
        chrome, (by_day, total), (by_model, _), recent = await asyncio.gather(
            web.chrome(visit, "overview"),
            summaries(web, visit, month, usage_pb2.SUMMARY_GROUPING_DAY),
            summaries(web, visit, month, usage_pb2.SUMMARY_GROUPING_MODEL),
            web.call(
                visit,
                "UsageService/ListUsageRecords",
                usage_pb2.ListUsageRecordsRequest(
                    parent=_OWN,
                    page_size=_RECENT,
                    start_time=_stamp(month.start),
                    end_time=_stamp(month.end),
                ),
                usage_pb2.ListUsageRecordsResponse,
            ),
        )
    except FlexError as error:
        return web.failed(visit, failure_from(error))
    except RpcFailure as failure:
        return web.failed(visit, failure)
    per_day = {_day(s): s for s in by_day}
    days = [str(d) for d in month.days()]

    def series(amount: Callable[[usage_pb2.UsageSummary], int]) -> list[int]:
        return [amount(per_day[d]) if d in per_day else 0 for d in days]

    chart = {
        "days": days,
        "savings_micro_usd": series(lambda s: s.cost.savings_micro_usd),
        "actual_micro_usd": series(lambda s: s.cost.actual_micro_usd),
        "standard_micro_usd": series(lambda s: s.cost.standard_micro_usd),
    }
    return web.render(
        request,
        "overview.html",
        {
            **chrome,
            "month": month,
            "total": total,
            "by_day": by_day,
            "by_model": sorted(by_model, key=lambda s: -s.cost.savings_micro_usd),
            "records": list(recent.usage_records),
            # Data for the chart script, not code: the policy allows no inline script to run.
            "chart_json": json.dumps(chart, separators=(",", ":")),
            "done": DONE.get(request.query_params.get("done", "")),
            "day_label": _day,
            "outcome": types_pb2.RaceOutcome.Name,
            "tier": types_pb2.ServedTier.Name,
            "source": types_pb2.StartWithinSource.Name,
        },
    )


_CSV_COLUMNS = (
    "day", "model", "requests", "flex_races", "flex_won", "flex_share", "flex_win_rate",
    "actual_usd", "standard_usd", "savings_usd", "commission_usd",
)  # fmt: skip


async def overview_csv(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        month = _month(request)
        rows, total = await summaries(web, visit, month, usage_pb2.SUMMARY_GROUPING_MODEL_DAY)
    except FlexError as error:
        return web.failed(visit, failure_from(error))
    except RpcFailure as failure:
        return web.failed(visit, failure)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for label, summary in [*((_day(s), s) for s in rows), ("total", total)]:
        writer.writerow(
            (
                label,
                summary.model if label != "total" else "",
                summary.request_count,
                summary.flex_race_count,
                summary.flex_won_count,
                f"{summary.flex_share:.4f}",
                f"{summary.flex_win_rate:.4f}",
                decimal_usd(summary.cost.actual_micro_usd),
                decimal_usd(summary.cost.standard_micro_usd),
                decimal_usd(summary.cost.savings_micro_usd),
                decimal_usd(summary.cost.commission_micro_usd),
            )
        )
    headers = web.headers()
    headers["content-disposition"] = f'attachment; filename="flexgrpc-usage-{month}.csv"'
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


async def usage_record(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    request_id = str(request.path_params["request_id"])[:80]
    try:
        chrome = await web.chrome(visit, "overview")
        record = await web.call(
            visit,
            "UsageService/GetUsageRecord",
            usage_pb2.GetUsageRecordRequest(name=f"{_OWN}/usageRecords/{request_id}"),
            usage_pb2.UsageRecord,
        )
    except RpcFailure as failure:
        return web.failed(visit, failure)
    return web.render(
        request,
        "usage_record.html",
        {
            **chrome,
            "record": record,
            "outcome": types_pb2.RaceOutcome.Name,
            "tier": types_pb2.ServedTier.Name,
            "source": types_pb2.StartWithinSource.Name,
        },
    )
