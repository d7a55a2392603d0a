"""Billing: accounts (Stripe customer, card, past due), invoices, payment attempts, webhook
events, closed periods and the answers of idempotent billing requests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INVOICE_STATES = "'carried_forward', 'open', 'paid', 'past_due'"
_ATTEMPT_STATES = (
    "'pending', 'unknown', 'succeeded', 'soft_declined', 'hard_declined', 'no_payment_method'"
)


def _organization_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="RESTRICT",
    )


def upgrade() -> None:
    op.create_table(
        "billing_accounts",
        sa.Column("organization_id", sa.String(32), nullable=False),
        sa.Column("stripe_customer_id", sa.String(255), nullable=True),
        sa.Column("payment_method_id", sa.String(255), nullable=True),
        sa.Column("card_brand", sa.String(32), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("card_update_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        _organization_fk("billing_accounts"),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_billing_accounts")),
    )
    op.create_index(
        op.f("ix_billing_accounts_stripe_customer_id"),
        "billing_accounts",
        ["stripe_customer_id"],
        unique=True,
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("organization_id", sa.String(32), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("commission_nano_usd", sa.BigInteger(), nullable=False),
        sa.Column("carried_in_nano_usd", sa.BigInteger(), nullable=False),
        sa.Column("amount_due_nano_usd", sa.BigInteger(), nullable=False),
        sa.Column("carried_out_nano_usd", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("next_retry_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("soft_retries", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("past_due_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"state IN ({_INVOICE_STATES})", name=op.f("ck_invoices_state")),
        sa.CheckConstraint(
            "commission_nano_usd >= 0 AND carried_in_nano_usd >= 0 AND amount_due_nano_usd >= 0 "
            "AND carried_out_nano_usd >= 0",
            name=op.f("ck_invoices_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "commission_nano_usd + carried_in_nano_usd "
            "= amount_due_nano_usd + carried_out_nano_usd",
            name=op.f("ck_invoices_balanced"),
        ),
        sa.CheckConstraint(
            "amount_due_nano_usd % 10000000 = 0", name=op.f("ck_invoices_whole_cents")
        ),
        _organization_fk("invoices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "organization_id", "period", name=op.f("uq_invoices_organization_period")
        ),
    )
    op.create_index(op.f("ix_invoices_state_next_retry"), "invoices", ["state", "next_retry_time"])
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("invoice_id", sa.String(32), nullable=False),
        sa.Column("organization_id", sa.String(32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("amount_nano_usd", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("payment_method_id", sa.String(255), nullable=True),
        sa.Column("payment_intent_id", sa.String(255), nullable=True),
        sa.Column("card_brand", sa.String(32), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=False),
        sa.Column("failure_message", sa.String(500), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"state IN ({_ATTEMPT_STATES})", name=op.f("ck_payment_attempts_state")),
        sa.CheckConstraint(
            "amount_nano_usd > 0 AND amount_nano_usd % 10000000 = 0",
            name=op.f("ck_payment_attempts_whole_cents"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_payment_attempts_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        _organization_fk("payment_attempts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
        sa.UniqueConstraint(
            "invoice_id", "sequence", name=op.f("uq_payment_attempts_invoice_sequence")
        ),
    )
    op.create_index(
        op.f("ix_payment_attempts_idempotency_key"),
        "payment_attempts",
        ["idempotency_key"],
        unique=True,
    )
    op.create_index(
        op.f("ix_payment_attempts_payment_intent_id"),
        "payment_attempts",
        ["payment_intent_id"],
        unique=True,
    )
    op.create_index(
        op.f("ix_payment_attempts_org_time"),
        "payment_attempts",
        ["organization_id", "create_time", "id"],
    )
    op.create_index(op.f("ix_payment_attempts_state"), "payment_attempts", ["state"])
    op.create_table(
        "billing_periods",
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("close_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_billing_periods")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("receive_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "billing_requests",
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "method", "request_id", name=op.f("pk_billing_requests")),
    )


def downgrade() -> None:
    op.drop_table("billing_requests")
    op.drop_table("stripe_events")
    op.drop_table("billing_periods")
    op.drop_index(op.f("ix_payment_attempts_state"), table_name="payment_attempts")
    op.drop_index(op.f("ix_payment_attempts_org_time"), table_name="payment_attempts")
    op.drop_index(op.f("ix_payment_attempts_payment_intent_id"), table_name="payment_attempts")
    op.drop_index(op.f("ix_payment_attempts_idempotency_key"), table_name="payment_attempts")
    op.drop_table("payment_attempts")
    op.drop_index(op.f("ix_invoices_state_next_retry"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_billing_accounts_stripe_customer_id"), table_name="billing_accounts")
    op.drop_table("billing_accounts")
