"""Wiring billing into the server and the CLI.

``build_billing(settings, sessions)`` returns a ``Billing`` with:

- ``servicer`` — register with ``billing_pb2_grpc.add_BillingServiceServicer_to_server``; its
  ``HandleStripeWebhook`` must stay in the auth interceptor's public methods (``WEBHOOK_METHOD``);
- ``gate`` — ``await billing.gate.check(organization_id, billable=...)`` before a billable flex
  attempt (raises ``FlexError("payment_required")`` while past due);
- ``scheduler`` — ``None`` unless ``billing_scheduler`` is on; ``start()`` inside the running
  loop after the server starts, ``await stop()`` on shutdown.

The CLI: ``add_arguments(parser)`` for ``flexgrpc billing close`` and
``close_command(args, settings)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.api.billing import WEBHOOK_METHOD, BillingServicer
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

__all__ = [
    "WEBHOOK_METHOD",
    "Billing",
    "BillingConfig",
    "BillingSettings",
    "add_arguments",
    "build_billing",
    "close_command",
]


class BillingConfig(Protocol):
    """The settings billing reads (``flexgrpc.config.Settings`` gains these fields)."""

    @property
    def database_url(self) -> str: ...
    @property
    def stripe_api_key(self) -> str | None: ...
    @property
    def stripe_api_base(self) -> str | None: ...
    @property
    def stripe_webhook_secret(self) -> str | None: ...
    @property
    def stripe_timeout_s(self) -> float: ...
    @property
    def stripe_max_network_retries(self) -> int: ...
    @property
    def billing_operator_organizations(self) -> Sequence[str]: ...
    @property
    def billing_gate_cache_ttl_s(self) -> float: ...
    @property
    def billing_require_card_for_flex(self) -> bool: ...
    @property
    def billing_soft_decline_retry_hours(self) -> Sequence[float]: ...
    @property
    def billing_in_flight_timeout_s(self) -> float: ...
    @property
    def billing_scheduler(self) -> bool: ...
    @property
    def billing_scheduler_interval_s(self) -> float: ...


@dataclass(frozen=True)
class BillingSettings:
    """The defaults, as a concrete ``BillingConfig`` (tests, and a template for Settings)."""

    database_url: str = "sqlite:///flexgrpc.db"
    #: Stripe secret key (``sk_live_…``/``sk_test_…``); without it nothing is charged: invoices
    #: stay open and the card methods answer ``unavailable``.
    stripe_api_key: str | None = None
    #: Stripe API base URL; ``None`` = Stripe itself (tests point it at localstripe).
    stripe_api_base: str | None = None
    #: The webhook endpoint's signing secret (``whsec_…``); without it webhooks are refused.
    stripe_webhook_secret: str | None = None
    stripe_timeout_s: float = 30.0
    stripe_max_network_retries: int = 2
    #: Organization ids whose API keys may close periods and act on any organization's billing.
    billing_operator_organizations: tuple[str, ...] = ()
    #: How long the 402 gate trusts an organization's standing (at most 5 s).
    billing_gate_cache_ttl_s: float = 2.0
    #: Off by default: refuse billable flex to organizations without a card on file.
    billing_require_card_for_flex: bool = False
    #: After a soft decline, retry after these many hours (counted from each failure).
    billing_soft_decline_retry_hours: tuple[float, ...] = (24.0, 72.0, 168.0)
    #: A charge still "pending" after this long is presumed orphaned and reconciled.
    billing_in_flight_timeout_s: float = 300.0
    #: Opt-in: run the close and the collector inside ``serve``.
    billing_scheduler: bool = False
    billing_scheduler_interval_s: float = 300.0


@dataclass(frozen=True)
class Billing:
    servicer: BillingServicer
    gate: BillingGate
    scheduler: BillingScheduler | None
    closer: PeriodCloser
    payments: Payments
    accounts: BillingAccounts
    webhooks: StripeWebhooks
    #: RPC methods that authenticate by other means than an API key.
    public_methods: frozenset[str] = frozenset({WEBHOOK_METHOD})


def build_billing(
    settings: BillingConfig,
    sessions: sessionmaker[Session],
    *,
    gateway: PaymentGateway | None = None,
    clock: Clock = utc_now,
) -> Billing:
    """Everything billing needs, on ``sessions``; ``gateway`` overrides the Stripe one."""
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
        retry_schedule=[dt.timedelta(hours=h) for h in settings.billing_soft_decline_retry_hours],
        in_flight_timeout=dt.timedelta(seconds=settings.billing_in_flight_timeout_s),
    )
    accounts = BillingAccounts(sessions, payments, clock=clock)
    closer = PeriodCloser(sessions, payments, clock=clock)
    gate = BillingGate(
        sessions,
        ttl_s=settings.billing_gate_cache_ttl_s,
        require_card=settings.billing_require_card_for_flex,
    )
    webhooks = StripeWebhooks(
        sessions,
        payments,
        accounts,
        signing_secret=settings.stripe_webhook_secret,
        gate=gate,
        clock=clock,
    )
    servicer = BillingServicer(
        accounts=accounts,
        payments=payments,
        closer=closer,
        webhooks=webhooks,
        requests=RequestLog(sessions, clock=clock),
        gate=gate,
        operators=settings.billing_operator_organizations,
    )
    scheduler = None
    if settings.billing_scheduler:
        scheduler = BillingScheduler(
            closer, payments, interval_s=settings.billing_scheduler_interval_s, clock=clock
        )
    return Billing(servicer, gate, scheduler, closer, payments, accounts, webhooks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``flexgrpc billing close``."""
    parser.add_argument(
        "--period",
        help="UTC month to close, YYYY-MM (default: the month that just ended); it must have "
        "ended. Safe to repeat and to run on several hosts at once.",
    )


def close_command(args: argparse.Namespace, settings: BillingConfig) -> int:
    """``flexgrpc billing close``: close a month for every organization and charge the bills."""
    from flexgrpc.db.engine import make_engine, make_sessionmaker
    from flexgrpc.db.migrate import upgrade

    period = Period.parse(args.period, field="--period") if args.period else None
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        billing = build_billing(settings, make_sessionmaker(engine))
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
