"""Dashboard: people who sign in, their sessions and one-time sign-in links.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _organization_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "dashboard_users",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("organization_id", sa.String(32), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        _organization_fk("dashboard_users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_users")),
    )
    op.create_index(op.f("ix_dashboard_users_email"), "dashboard_users", ["email"], unique=True)
    op.create_index(
        op.f("ix_dashboard_users_organization_id"), "dashboard_users", ["organization_id"]
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("organization_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        _organization_fk("dashboard_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["dashboard_users.id"],
            name=op.f("fk_dashboard_sessions_user_id_dashboard_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(
        op.f("ix_dashboard_sessions_expire_time"), "dashboard_sessions", ["expire_time"]
    )
    op.create_table(
        "dashboard_sign_in_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("organization_id", sa.String(32), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("use_time", sa.DateTime(timezone=True), nullable=True),
        _organization_fk("dashboard_sign_in_links"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_sign_in_links")),
    )


def downgrade() -> None:
    op.drop_table("dashboard_sign_in_links")
    op.drop_index(op.f("ix_dashboard_sessions_expire_time"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_index(op.f("ix_dashboard_users_organization_id"), table_name="dashboard_users")
    op.drop_index(op.f("ix_dashboard_users_email"), table_name="dashboard_users")
    op.drop_table("dashboard_users")
