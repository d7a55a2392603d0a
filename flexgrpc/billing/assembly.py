"""Wiring billing into the server and the CLI.

``build_billing(settings, sessions, billable=...)`` returns a ``Billing`` with its parts:

- ``gate`` — ``await billing.gate.check_request(organization_id, job)`` before a request's
  upstream work (raises ``FlexError("payment_required")`` for billable flex while past due);
- ``scheduler`` — ``None`` unless ``settings.scheduler`` is on; ``start()`` inside the running
  loop after the server starts, ``await stop()`` on shutdown;
- the close, payments, accounts, webhooks and AIP-155 request log the BillingService serves.

The CLI: ``add_arguments(parser)`` for ``flexgrpc billing close`` and
``close_command(args, settings)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.billing.accounts import BillingAccounts
from flexgrpc.billing.close import PeriodCloser
from flexgrpc.billing.gate import BillingGate
from flexgrpc.billing.gateway import PaymentGateway
from flexgrpc.billing.payments import Payments
from flexgrpc.billing.periods import Period
from flexgrpc.billing.records import Clock, utc_now
from flexgrpc.billing.requests import RequestLog
from flexgrpc.billing.scheduler import BillingScheduler
from flexgrpc.billing.stripe_gateway import StripeGateway
from flexgrpc.billing.webhooks import StripeWebhooks
from flexgrpc.config import BillingSettings, Settings
from flexgrpc.domain import RouteJob

__all__ = ["Billing", "add_arguments", "build_billing", "close_command"]


@dataclass(frozen=True)
class Billing:
    gate: BillingGate
    scheduler: BillingScheduler | None
    closer: PeriodCloser
    payments: Payments
    accounts: BillingAccounts
    webhooks: StripeWebhooks
    requests: RequestLog
    #: Organizations whose API keys may close periods and act on any organization's billing.
    operators: tuple[str, ...]


def _never_billable(job: RouteJob) -> bool:
    return False


def build_billing(
    settings: BillingSettings,
    sessions: sessionmaker[Session],
    *,
    billable: Callable[[RouteJob], bool] = _never_billable,
    gateway: PaymentGateway | None = None,
    clock: Clock = utc_now,
) -> Billing:
    """Everything billing needs, on ``sessions``. ``billable`` says which requests the past-due
    gate stops; ``gateway`` overrides the Stripe one."""
    if gateway is None and settings.stripe_api_key:
        gateway = StripeGateway(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            timeout_s=settings.stripe_timeout_s,
            max_network_retries=settings.stripe_max_network_retries,
        )
    payments = Payments(
        sessions,
        gateway,
        clock=clock,
        retry_schedule=[dt.timedelta(hours=h) for h in settings.soft_decline_retry_hours],
        in_flight_timeout=dt.timedelta(seconds=settings.in_flight_timeout_s),
    )
    accounts = BillingAccounts(sessions, payments, clock=clock)
    closer = PeriodCloser(sessions, payments, clock=clock)
    gate = BillingGate(
        sessions,
        billable=billable,
        ttl_s=settings.gate_cache_ttl_s,
        require_card=settings.require_card_for_flex,
    )
    webhooks = StripeWebhooks(
        sessions,
        payments,
        accounts,
        signing_secret=settings.stripe_webhook_secret,
        gate=gate,
        clock=clock,
    )
    scheduler = None
    if settings.scheduler:
        scheduler = BillingScheduler(
            closer, payments, interval_s=settings.scheduler_interval_s, clock=clock
        )
    return Billing(
        gate=gate,
        scheduler=scheduler,
        closer=closer,
        payments=payments,
        accounts=accounts,
        webhooks=webhooks,
        requests=RequestLog(sessions, clock=clock),
        operators=settings.operator_organizations,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``flexgrpc billing close``."""
    parser.add_argument(
        "--period",
        help="UTC month to close, YYYY-MM (default: the month that just ended); it must have "
        "ended. Safe to repeat and to run on several hosts at once.",
    )


def close_command(args: argparse.Namespace, settings: Settings) -> int:
    """``flexgrpc billing close``: close a month for every organization and charge the bills."""
    from flexgrpc.db.engine import make_engine, make_sessionmaker
    from flexgrpc.db.migrate import upgrade

    period = Period.parse(args.period, field="--period") if args.period else None
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        billing = build_billing(settings.billing, make_sessionmaker(engine))
        report = billing.closer.close(period)
    finally:
        engine.dispose()
    data = {
        "period": report.period,
        "invoices_created": report.invoices_created,
        "charges_attempted": report.charges_attempted,
        "charges_succeeded": report.charges_succeeded,
        "charged_nano_usd": report.charged_nano_usd,
    }
    cents = report.charged_nano_usd // 10_000_000
    if getattr(args, "json", False):
        print(json.dumps(data))
    else:
        print(
            f"closed {report.period}: {report.invoices_created} invoices created, "
            f"{report.charges_succeeded}/{report.charges_attempted} charges succeeded, "
            f"${cents // 100:,}.{cents % 100:02d} charged"
        )
    return 0
