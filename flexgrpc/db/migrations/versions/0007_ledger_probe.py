"""ledger_probe: one row whose rewrite proves the ledger can commit records now.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "ledger_probe",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("probe_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_probe")),
    )
    op.bulk_insert(table, [{"id": 1, "probe_time": dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    op.drop_table("ledger_probe")
