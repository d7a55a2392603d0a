"""The accounts of the double-entry ledger.

A commission debits the organization's receivable and credits our revenue; a payment (billing)
debits clearing and credits the receivable.
"""

from __future__ import annotations

RECEIVABLE = "receivable"
COMMISSION_REVENUE = "commission_revenue"
CLEARING = "clearing"
ACCOUNTS = frozenset({RECEIVABLE, COMMISSION_REVENUE, CLEARING})


def commission_transaction(request_id: str) -> str:
    """The ledger transaction that posts a request's commission (once: it is the key)."""
    return f"commission:{request_id}"


def payment_transaction(payment_intent_id: str) -> str:
    """The ledger transaction that posts a payment (once per PaymentIntent)."""
    return f"payment:{payment_intent_id}"
