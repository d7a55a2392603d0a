"""Dashboard page loads with a month of usage: p50 server time per page.

A real server and simulator (bench/harness.py); the bench organization gets ``--records``
usage records (default 100,000) spread over last month and five models, written through the
ledger as the router writes them; a dashboard session is opened for it. Then every page is
loaded ``--loads`` times, interleaved, over one keep-alive HTTP connection, and two numbers are
kept per load: the server's own time (its ``Server-Timing: app`` header: from the request to
the start of the answer) and the client's wall time. The baseline, measured in the same run, is
the sign-in page: the same app, templates and headers, but no RPC and no aggregate.

    .venv/bin/python bench/dashboard_pages.py [--records 100000] [--loads 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import pathlib
import re
import sys
import time

import httpx

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from bench.harness import percentile, stack
from flexgrpc.billing.periods import Period
from flexgrpc.dashboard.security import SESSION_COOKIE
from flexgrpc.dashboard.sessions import SessionStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.domain import RaceOutcome, RequestRecord, TokenCounts
from flexgrpc.ledger.store import LedgerStore
from tests.records import flex_record

MODELS = ("gpt-5-mini", "gpt-5", "gpt-5-nano", "gemini-3-flash-preview", "o4-mini")
_TIMING = re.compile(r"app;dur=([0-9.]+)")


def seed(database_url: str, organization_id: str, period: Period, count: int) -> float:
    """``count`` flex records over ``period``; returns the seconds it took."""
    started = time.perf_counter()
    engine = make_engine(database_url)
    ledger = LedgerStore(make_sessionmaker(engine))
    seconds = int((period.end - period.start).total_seconds())
    batch: list[RequestRecord] = []
    for n in range(count):
        at = period.start + dt.timedelta(seconds=n * seconds // count)
        won = n % 4 != 0
        commission = 2_000 + n % 7_000 if won else 0
        record = flex_record(
            organization_id,
            f"req_bench_{n:08d}",
            commission=commission,
            actual=40_000 + commission * 4,
            standard=40_000 + commission * 9,
            at=at,
            prices={},
            tokens=TokenCounts(uncached_input=900, cached_input=100, output=300),
        )
        row = dataclasses.replace(
            record,
            api_key_id="key_bench",
            model=MODELS[n % len(MODELS)],
            outcome=RaceOutcome.FLEX_WON if won else RaceOutcome.FELL_BACK,
            provider_service_tier="flex" if won else "default",
            time_to_start_ms=800,
        )
        batch.append(row)
        if len(batch) == 5_000:
            ledger.write(batch)
            batch = []
    if batch:
        ledger.write(batch)
    engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--loads", type=int, default=40)
    args = parser.parse_args()
    with stack() as s:
        assert s.server.process.stdout is not None
        http_port = int(s.server.process.stdout.readline().strip().rsplit(":", 1)[1])
        base = f"http://127.0.0.1:{http_port}"
        database_url = f"sqlite:///{pathlib.Path(s.home) / 'bench.db'}"
        who = httpx.get(
            f"{base}/v1/organizations/-", headers={"authorization": f"Bearer {s.api_key}"}
        )
        organization_id = who.json()["name"].removeprefix("organizations/")
        period = Period.containing(dt.datetime.now(dt.UTC)).previous()
        took = seed(database_url, organization_id, period, args.records)
        print(f"seeded {args.records:,} usage records over {period} in {took:.1f} s")
        engine = make_engine(database_url)
        token = (
            SessionStore(make_sessionmaker(engine), ttl=dt.timedelta(hours=1))
            .open(organization_id, None)
            .token
        )
        engine.dispose()
        pages = {
            "baseline: sign-in page (no RPC)": "/dashboard/sign-in",
            "static asset (dashboard.css)": "/dashboard/static/dashboard.css",
            "overview (per day, per model, latest)": f"/dashboard/overview?period={period}",
            "overview.csv (per model and day)": f"/dashboard/overview.csv?period={period}",
            "billing": "/dashboard/billing",
            "api keys": "/dashboard/api-keys",
            "provider keys": "/dashboard/provider-keys",
            "settings": "/dashboard/settings",
        }
        server: dict[str, list[float]] = {name: [] for name in pages}
        wall: dict[str, list[float]] = {name: [] for name in pages}
        with httpx.Client(base_url=base, cookies={SESSION_COOKIE: token}) as client:
            for name, path in pages.items():  # warm up: templates compiled, caches filled
                assert client.get(path).status_code == 200, (name, path)
            for _ in range(args.loads):
                for name, path in pages.items():
                    started = time.perf_counter()
                    answer = client.get(path)
                    wall[name].append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (name, answer.status_code)
                    found = _TIMING.search(answer.headers.get("server-timing", ""))
                    assert found is not None
                    server[name].append(float(found[1]))
        print(f"\n{args.loads} loads per page, interleaved, one keep-alive connection (ms)\n")
        print("| page | server p50 | server p90 | wall p50 |")
        print("|---|---|---|---|")
        for name in pages:
            print(
                f"| {name} | {percentile(server[name], 50):.1f} | "
                f"{percentile(server[name], 90):.1f} | {percentile(wall[name], 50):.1f} |"
            )


if __name__ == "__main__":
    main()
