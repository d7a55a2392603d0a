"""The typed SQLAlchemy models. The Alembic migrations in ``migrations/versions`` must describe
exactly these tables; a test compares the two on SQLite and PostgreSQL.

Migrations never import this module's classes: a migration is a frozen description of the schema
at one revision, while these models follow the latest one.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Deterministic constraint names, so migrations can refer to (and drop) them by name on every
#: backend instead of relying on each database's generated names.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Providers an organization can store a key for (SPEC §8). Route names differ ("google" is the
#: route that uses the "gemini" key); this is the key's owner, not a route.
PROVIDER_NAMES: Final = ("openai", "gemini", "anthropic")

_PROVIDER_SQL_LIST: Final = ", ".join(f"'{name}'" for name in PROVIDER_NAMES)

_ID_LENGTH: Final = 32  # "org_" / "key_" + 16 hex, with room to grow
_HASH_LENGTH: Final = 64  # SHA-256 hex


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz`` and returns it in the session's time zone; SQLite has no
    time zone type and returns naive values. Both come back as aware UTC datetimes, and a naive
    datetime is refused on the way in, because its meaning would depend on the host's clock.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: timestamps must be timezone-aware (UTC)")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    """A customer: owns API keys, provider keys and a bill."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(_ID_LENGTH), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    #: Limits (flexgrpc.accounts.limits); 0 = unlimited.
    requests_per_minute: Mapped[int] = mapped_column(Integer, server_default="0")
    request_burst: Mapped[int] = mapped_column(Integer, server_default="0")
    flex_race_slots: Mapped[int] = mapped_column(Integer, server_default="0")
    #: ``refuse`` or ``degrade_to_standard``.
    flex_race_slots_on_exceed: Mapped[str] = mapped_column(String(32), server_default="refuse")


class ApiKey(Base):
    """A flexgrpc API key. Only its SHA-256 is stored; the plaintext is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        # Every authenticated request looks a key up by hash; unique also rules out two rows
        # answering for one token.
        Index("ix_api_keys_hash", "hash", unique=True),
        Index("ix_api_keys_organization_id", "organization_id"),
    )

    id: Mapped[str] = mapped_column(String(_ID_LENGTH), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    hash: Mapped[str] = mapped_column(String(_HASH_LENGTH))
    #: Enough of the key for a person to recognise it in a list ("flex_live_ab12…").
    display_prefix: Mapped[str] = mapped_column(String(32))
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoke_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    #: The ``start_within`` of this key's requests that name none (the body field's grammar).
    default_start_within: Mapped[str | None] = mapped_column(String(16))


class ProviderKey(Base):
    """An organization's own key for one provider (BYOK), encrypted with AES-256-GCM."""

    __tablename__ = "provider_keys"
    __table_args__ = (CheckConstraint(f"provider IN ({_PROVIDER_SQL_LIST})", name="provider"),)

    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    )
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary())
    nonce: Mapped[bytes] = mapped_column(LargeBinary())
    update_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class UsageRecord(Base):
    """One request's record (SPEC §5): every request leaves exactly one, whatever happened.

    Money columns are nano-USD integers; ``prices`` keeps the catalog prices used (JSON), so a
    record never changes when the catalog does. Append-only: triggers refuse UPDATE and DELETE.
    """

    __tablename__ = "usage_records"
    __table_args__ = (
        # Listing is "an organization's records, newest first", paginated by (time, id).
        Index("ix_usage_records_org_time", "organization_id", "create_time", "request_id"),
    )

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    api_key_id: Mapped[str] = mapped_column(String(_ID_LENGTH))
    surface: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(16))
    #: ``default`` / ``priority`` / ``auto`` or ``flex:<window ms>``.
    requested: Mapped[str] = mapped_column(String(32))
    served_tier: Mapped[str] = mapped_column(String(16))
    provider_service_tier: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    flex_attempts: Mapped[int] = mapped_column(Integer)
    #: ``body`` / ``header`` / ``key_default``; ``""`` when not known (or written before 0006).
    start_within_source: Mapped[str] = mapped_column(String(16), server_default=text("''"))
    #: How many times the settled tier was asked again (the caller's ``retry`` policy).
    retries: Mapped[int] = mapped_column(Integer, server_default="0")
    time_to_start_ms: Mapped[int | None] = mapped_column(Integer)
    fallback_after_ms: Mapped[float | None] = mapped_column(Float)
    #: Why a race was served on standard: ``window_spent``, ``flex_policy``,
    #: ``flex_race_slots``; NULL when it was not (and on records older than the column).
    fallback_reason: Mapped[str | None] = mapped_column(String(32))
    uncached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger)
    #: False when the model has no catalog price: costs are unknown, commission is 0.
    priced: Mapped[bool] = mapped_column()
    actual_nano_usd: Mapped[int] = mapped_column(BigInteger)
    standard_nano_usd: Mapped[int] = mapped_column(BigInteger)
    savings_nano_usd: Mapped[int] = mapped_column(BigInteger)
    commission_nano_usd: Mapped[int] = mapped_column(BigInteger)
    prices: Mapped[str] = mapped_column(Text)
    error_code: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    #: The UTC calendar day of ``create_time`` (``YYYY-MM-DD``), for per-day summaries that
    #: group the same way on every backend.
    create_day: Mapped[str] = mapped_column(String(10))
    complete_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class LedgerEntry(Base):
    """One leg of a double-entry transaction. Entries are never updated or deleted (triggers
    enforce it); a balance is the sum of an account's entries; each transaction sums to zero.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        # Idempotency: a transaction (e.g. ``commission:<request id>``) posts each leg once.
        UniqueConstraint("transaction_id", "account", name="uq_ledger_entries_transaction_account"),
        Index("ix_ledger_entries_org_account", "organization_id", "account"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    transaction_id: Mapped[str] = mapped_column(String(128))
    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    #: ``receivable`` (the organization owes us), ``commission_revenue``, ``clearing``, …
    account: Mapped[str] = mapped_column(String(32))
    #: Signed nano-USD: debits positive, credits negative.
    amount_nano_usd: Mapped[int] = mapped_column(BigInteger)
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


# --- Billing (SPEC §6) ----------------------------------------------------------------------

#: States of an invoice (one organization's close of one UTC calendar month).
INVOICE_STATES: Final = ("carried_forward", "open", "paid", "past_due")
#: States of one attempt to charge an invoice.
PAYMENT_ATTEMPT_STATES: Final = (
    "pending",
    "unknown",
    "succeeded",
    "soft_declined",
    "hard_declined",
    "no_payment_method",
)
_STRIPE_ID_LENGTH: Final = 255  # Stripe ids are documented as at most 255 characters
#: Nano-USD per cent: charges are whole cents.
_NANO_PER_CENT: Final = 10_000_000


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class BillingAccount(Base):
    """An organization's billing state: its Stripe customer, the card on file and whether it is
    past due (the 402 gate reads ``past_due_since``). Created on first need.
    """

    __tablename__ = "billing_accounts"
    __table_args__ = (
        Index("ix_billing_accounts_stripe_customer_id", "stripe_customer_id", unique=True),
    )

    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(String(_STRIPE_ID_LENGTH))
    #: The default payment method (``pm_…``) the off-session charges use.
    payment_method_id: Mapped[str | None] = mapped_column(String(_STRIPE_ID_LENGTH))
    card_brand: Mapped[str | None] = mapped_column(String(32))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    #: When the card on file was set; an older ``setup_intent.succeeded`` does not replace it.
    card_update_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    #: Set while any invoice is past due; billable flex is refused meanwhile.
    past_due_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    update_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Invoice(Base):
    """One organization's close of one UTC calendar month (``period`` = ``YYYY-MM``).

    ``commission + carried_in == amount_due + carried_out`` (nano-USD); ``amount_due`` is whole
    cents, 0 when the balance was under the threshold and carried forward. The unique
    constraint on (organization, period) is what makes a repeated or concurrent close harmless.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organization_id", "period", name="uq_invoices_organization_period"),
        CheckConstraint(f"state IN ({_sql_list(INVOICE_STATES)})", name="state"),
        CheckConstraint(
            "commission_nano_usd >= 0 AND carried_in_nano_usd >= 0 AND amount_due_nano_usd >= 0 "
            "AND carried_out_nano_usd >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint(
            "commission_nano_usd + carried_in_nano_usd "
            "= amount_due_nano_usd + carried_out_nano_usd",
            name="balanced",
        ),
        CheckConstraint(f"amount_due_nano_usd % {_NANO_PER_CENT} = 0", name="whole_cents"),
        Index("ix_invoices_state_next_retry", "state", "next_retry_time"),
    )

    id: Mapped[str] = mapped_column(String(_ID_LENGTH), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    period: Mapped[str] = mapped_column(String(7))
    commission_nano_usd: Mapped[int] = mapped_column(BigInteger)
    carried_in_nano_usd: Mapped[int] = mapped_column(BigInteger)
    amount_due_nano_usd: Mapped[int] = mapped_column(BigInteger)
    carried_out_nano_usd: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    #: When the next automatic charge is due (a soft decline's schedule, or "now" after a new
    #: card); none while nothing is scheduled.
    next_retry_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    #: Automatic retries after soft declines so far (indexes the retry schedule).
    soft_retries: Mapped[int] = mapped_column(Integer)
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    update_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    paid_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    past_due_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class PaymentAttempt(Base):
    """One attempt to charge an invoice, recorded *before* Stripe is called.

    ``idempotency_key`` is derived from the attempt (a new attempt, e.g. on a new card, gets a
    new key); a retry of the same attempt (reconciling an unknown outcome) reuses it.
    """

    __tablename__ = "payment_attempts"
    __table_args__ = (
        UniqueConstraint("invoice_id", "sequence", name="uq_payment_attempts_invoice_sequence"),
        Index("ix_payment_attempts_idempotency_key", "idempotency_key", unique=True),
        Index("ix_payment_attempts_payment_intent_id", "payment_intent_id", unique=True),
        Index("ix_payment_attempts_org_time", "organization_id", "create_time", "id"),
        Index("ix_payment_attempts_state", "state"),
        CheckConstraint(f"state IN ({_sql_list(PAYMENT_ATTEMPT_STATES)})", name="state"),
        CheckConstraint(
            f"amount_nano_usd > 0 AND amount_nano_usd % {_NANO_PER_CENT} = 0", name="whole_cents"
        ),
    )

    id: Mapped[str] = mapped_column(String(_ID_LENGTH), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("invoices.id", ondelete="RESTRICT")
    )
    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    #: 1, 2, … per invoice.
    sequence: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    amount_nano_usd: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(24))
    payment_method_id: Mapped[str | None] = mapped_column(String(_STRIPE_ID_LENGTH))
    payment_intent_id: Mapped[str | None] = mapped_column(String(_STRIPE_ID_LENGTH))
    card_brand: Mapped[str | None] = mapped_column(String(32))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    failure_code: Mapped[str] = mapped_column(String(64))
    failure_message: Mapped[str] = mapped_column(String(500))
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    update_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class BillingPeriod(Base):
    """A UTC month whose close ran to the end for every organization (the scheduler's marker)."""

    __tablename__ = "billing_periods"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    close_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class StripeEvent(Base):
    """A Stripe webhook event already applied: inserted in the same transaction as its effect."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(_STRIPE_ID_LENGTH), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    receive_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class BillingRequest(Base):
    """The stored answer of a mutating BillingService call, keyed by its ``request_id``
    (AIP-155): a retry with the same id gets this answer and changes nothing more.
    """

    __tablename__ = "billing_requests"

    #: The organization the call acted for (``-`` for operator-wide calls such as a close).
    scope: Mapped[str] = mapped_column(String(_ID_LENGTH), primary_key=True)
    method: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    response: Mapped[bytes] = mapped_column(LargeBinary())
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


# --- Dashboard (SPEC §8.1): people who sign in, their sessions and one-time sign-in links -----

_EMAIL_LENGTH: Final = 254  # the longest address SMTP carries


class DashboardUser(Base):
    """A person who signs in to the dashboard with an email and a password (argon2id hash)."""

    __tablename__ = "dashboard_users"
    __table_args__ = (
        Index("ix_dashboard_users_email", "email", unique=True),
        Index("ix_dashboard_users_organization_id", "organization_id"),
    )

    id: Mapped[str] = mapped_column(String(_ID_LENGTH), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    #: Lower-cased, so that one address is one account whatever its spelling.
    email: Mapped[str] = mapped_column(String(_EMAIL_LENGTH))
    password_hash: Mapped[str] = mapped_column(String(255))
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class DashboardSession(Base):
    """A signed-in browser. Only the SHA-256 of its cookie's random token is stored."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (Index("ix_dashboard_sessions_expire_time", "expire_time"),)

    token_hash: Mapped[str] = mapped_column(String(_HASH_LENGTH), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    #: The person signed in; none for a session opened by an operator's sign-in link.
    user_id: Mapped[str | None] = mapped_column(
        String(_ID_LENGTH), ForeignKey("dashboard_users.id", ondelete="CASCADE")
    )
    #: The per-session CSRF token every form of this session must carry.
    csrf_token: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expire_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class DashboardSignInLink(Base):
    """A one-time sign-in link an operator issued for an organization (stored hashed)."""

    __tablename__ = "dashboard_sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(_HASH_LENGTH), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    create_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expire_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    #: When it was used; a link works once.
    use_time: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class UsageDaily(Base):
    """An organization's usage per UTC day and model: the sum of its usage records, kept by a
    database trigger as each record is inserted (migration 0005), so it never disagrees with
    them. Summaries of whole days read it instead of the records."""

    __tablename__ = "usage_daily"

    organization_id: Mapped[str] = mapped_column(
        String(_ID_LENGTH), ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )
    create_day: Mapped[str] = mapped_column(String(10), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    flex_races: Mapped[int] = mapped_column(BigInteger)
    flex_won: Mapped[int] = mapped_column(BigInteger)
    actual_nano_usd: Mapped[int] = mapped_column(BigInteger)
    standard_nano_usd: Mapped[int] = mapped_column(BigInteger)
    savings_nano_usd: Mapped[int] = mapped_column(BigInteger)
    commission_nano_usd: Mapped[int] = mapped_column(BigInteger)


class LedgerProbe(Base):
    """One row the server rewrites every few seconds: a commit that proves records can be
    written now (a read-only file, a full disk or a read-only replica fails it)."""

    __tablename__ = "ledger_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    probe_time: Mapped[dt.datetime] = mapped_column(UtcDateTime())
