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
    time_to_start_ms: Mapped[int | None] = mapped_column(Integer)
    fallback_after_ms: Mapped[float | None] = mapped_column(Float)
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
