"""usage_daily: each organization's usage per UTC day and model, kept by the database.

A trigger adds every usage record to its row as the record is inserted, in the same
transaction; an insert skipped as a duplicate (a replayed record) fires no trigger, so a row is
exactly the sum of its records. Summaries of whole days read these rows instead of the records.

The flex-race test (``requested LIKE 'flex:%'``) follows flexgrpc/ledger/rows.py, which spells
``requested``; a migration is a frozen description, so it does not import it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUMS = (
    "requests",
    "flex_races",
    "flex_won",
    "actual_nano_usd",
    "standard_nano_usd",
    "savings_nano_usd",
    "commission_nano_usd",
)
#: What one record adds to each sum, in ``_SUMS`` order (``{r}`` is the record's alias).
_TERMS = (
    "1",
    "CASE WHEN {r}.requested LIKE 'flex:%' THEN 1 ELSE 0 END",
    "CASE WHEN {r}.outcome = 'flex_won' THEN 1 ELSE 0 END",
    "{r}.actual_nano_usd",
    "{r}.standard_nano_usd",
    "{r}.savings_nano_usd",
    "{r}.commission_nano_usd",
)
_KEYS = "organization_id, create_day, model"


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("organization_id", sa.String(32), nullable=False),
        sa.Column("create_day", sa.String(10), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _SUMS),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_usage_daily_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "create_day", "model", name=op.f("pk_usage_daily")
        ),
    )
    columns = ", ".join(_SUMS)
    adds = ", ".join(f"{name} = usage_daily.{name} + excluded.{name}" for name in _SUMS)
    values = ", ".join(term.format(r="NEW") for term in _TERMS)
    # Built from this module's constants only (S608 is about input; there is none here).
    upsert = (
        f"INSERT INTO usage_daily ({_KEYS}, {columns}) "  # noqa: S608
        f"VALUES (NEW.organization_id, NEW.create_day, NEW.model, {values}) "
        f"ON CONFLICT ({_KEYS}) DO UPDATE SET {adds}"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION flexgrpc_usage_daily_add() RETURNS trigger AS $$ "
            f"BEGIN {upsert}; RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER usage_records_daily AFTER INSERT ON usage_records "
            "FOR EACH ROW EXECUTE FUNCTION flexgrpc_usage_daily_add()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER usage_records_daily AFTER INSERT ON usage_records BEGIN {upsert}; END"
        )
    # The records already written.
    sums = ", ".join(f"SUM({term.format(r='r')})" for term in _TERMS)
    op.execute(
        f"INSERT INTO usage_daily ({_KEYS}, {columns}) "  # noqa: S608 - constants only
        f"SELECT r.organization_id, r.create_day, r.model, {sums} FROM usage_records r "
        "GROUP BY r.organization_id, r.create_day, r.model"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS usage_records_daily ON usage_records")
        op.execute("DROP FUNCTION IF EXISTS flexgrpc_usage_daily_add()")
    else:
        op.execute("DROP TRIGGER IF EXISTS usage_records_daily")
    op.drop_table("usage_daily")
