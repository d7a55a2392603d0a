"""The opt-in scheduler and ``flexgrpc billing close``."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from flexgrpc.billing.assembly import add_arguments, close_command
from flexgrpc.billing.periods import Period
from flexgrpc.billing.scheduler import BillingScheduler
from flexgrpc.config import Settings
from flexgrpc.errors import FlexError
from tests.billing.conftest import CENT, Billing, utc


def test_each_tick_closes_the_month_that_ended_once_and_collects(billing: Billing) -> None:
    org = billing.organization()
    billing.commission(org, 2500 * CENT, utc(2026, 1, 3))
    scheduler = BillingScheduler(billing.closer, billing.payments, clock=billing.clock)
    billing.gateway.script = ["lose_response"]
    scheduler.tick()  # the close loses the answer; the same round's collector finds it
    assert billing.closer.is_closed(Period(2026, 1))
    assert [a.state for a in billing.attempts(org)] == ["succeeded"]
    billing.clock.advance(minutes=5)
    scheduler.tick()  # January is closed: nothing more happens
    assert len(billing.invoices(org)) == 1
    assert billing.gateway.charge_calls == 1


async def test_the_scheduler_starts_and_stops(billing: Billing) -> None:
    scheduler = BillingScheduler(
        billing.closer, billing.payments, interval_s=0.01, clock=billing.clock
    )
    scheduler.start()
    for _ in range(500):
        if billing.closer.is_closed(Period(2026, 1)):
            break
        await asyncio.sleep(0.01)
    await scheduler.stop()
    assert billing.closer.is_closed(Period(2026, 1))


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def test_the_close_command_closes_a_period_and_reports_it(
    billing: Billing, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    org = billing.organization(card=None)
    billing.commission(org, 1234 * CENT, utc(2025, 12, 30))
    settings = Settings(database_url=database_url)
    assert close_command(parse("--period", "2025-12", "--json"), settings) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "period": "2025-12",
        "invoices_created": 1,
        "charges_attempted": 0,
        "charges_succeeded": 0,
        "charged_nano_usd": 0,
    }
    assert close_command(parse("--period", "2025-12"), settings) == 0
    assert "closed 2025-12: 0 invoices created" in capsys.readouterr().out
    with pytest.raises(FlexError, match="YYYY-MM"):
        close_command(parse("--period", "December"), settings)
    with pytest.raises(FlexError, match="has not ended"):
        close_command(parse("--period", "2999-01"), settings)
