"""start_within beyond the body: an API key's default, and where each request's came from.

``api_keys.default_start_within`` holds the key's default in the body field's own grammar
(``"00h-00m-30s"``, ``"default"``, …) or NULL for none. ``usage_records.start_within_source``
says which spelling applied (``body``, ``header``, ``key_default``; ``""`` when the request
failed before it was known, and for every record written before this revision), and
``usage_records.retries`` how many times the settled tier was asked again (0 before).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("default_start_within", sa.String(16), nullable=True))
    # Plain ADD COLUMN (no table rebuild): usage_records is append-only, guarded by triggers.
    op.add_column(
        "usage_records",
        sa.Column(
            "start_within_source", sa.String(16), nullable=False, server_default=sa.text("''")
        ),
    )
    op.add_column(
        "usage_records",
        sa.Column("retries", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("usage_records", "retries")
    op.drop_column("usage_records", "start_within_source")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("default_start_within")
