"""Organization limits (request rate, flex race slots) and why a race was served on standard.

Every limit defaults to 0 (unlimited), so existing organizations keep working as before;
existing usage records have no fallback reason (NULL).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIMITS = ("requests_per_minute", "request_burst", "flex_race_slots")


def upgrade() -> None:
    for name in _LIMITS:
        op.add_column(
            "organizations",
            sa.Column(name, sa.Integer(), nullable=False, server_default="0"),
        )
    op.add_column(
        "organizations",
        sa.Column(
            "flex_race_slots_on_exceed",
            sa.String(32),
            nullable=False,
            server_default="refuse",
        ),
    )
    op.add_column(
        "usage_records",
        sa.Column("fallback_reason", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN on both backends (SQLite since 3.35): a batch copy of
    # usage_records would lose the triggers that guard it.
    op.drop_column("usage_records", "fallback_reason")
    for name in (*_LIMITS, "flex_race_slots_on_exceed"):
        op.drop_column("organizations", name)
