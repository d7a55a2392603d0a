"""The row a request leaves behind, independent of how it is stored."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

#: Accounts of the double-entry ledger. A commission debits the organization's receivable and
#: credits our revenue; a payment (billing) debits clearing and credits the receivable.
RECEIVABLE = "receivable"
COMMISSION_REVENUE = "commission_revenue"
CLEARING = "clearing"
ACCOUNTS = frozenset({RECEIVABLE, COMMISSION_REVENUE, CLEARING})


@dataclass(frozen=True)
class UsageRow:
    request_id: str
    organization_id: str
    api_key_id: str
    surface: str
    model: str
    provider: str
    route: str
    requested: str
    served_tier: str
    provider_service_tier: str
    outcome: str
    flex_attempts: int
    time_to_start_ms: int | None
    fallback_after_ms: float | None
    uncached_input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    priced: bool
    actual_nano_usd: int
    standard_nano_usd: int
    savings_nano_usd: int
    commission_nano_usd: int
    prices: dict[str, Any]
    error_code: str
    create_time: dt.datetime
    complete_time: dt.datetime
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def create_day(self) -> str:
        return self.create_time.astimezone(dt.UTC).date().isoformat()

    def commission_transaction(self) -> str:
        return f"commission:{self.request_id}"
