"""The 402 gate: billable flex requests of a past-due organization get ``payment_required``.

"Billable" is a rule handed in (a start window on a priced, non-Anthropic model,
``flexgrpc.pricing.pricer.is_billable_flex``): the gate only answers whether such a request may
go ahead. The standing of each organization is read
from the database and cached for at most ``ttl_s`` (≤ 5 s), so a payment settled on any replica
lifts the gate everywhere within that time, with one small query per organization per TTL —
concurrent requests of one organization share a single lookup.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.db.models import BillingAccount
from flexgrpc.domain import RouteJob
from flexgrpc.errors import FlexError

log = logging.getLogger("flexgrpc.billing.gate")

#: The spec's bound on how long a settled balance may keep flex paused.
MAX_TTL_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class Standing:
    past_due_since: dt.datetime | None
    has_card: bool


_GOOD = Standing(None, False)


class BillingGate:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        billable: Callable[[RouteJob], bool],
        ttl_s: float = 2.0,
        require_card: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= ttl_s <= MAX_TTL_S:
            raise ValueError(f"the billing gate's cache TTL must be within 0..{MAX_TTL_S} s")
        self._sessions = sessions
        self._billable = billable
        self._ttl = ttl_s
        self._require_card = require_card
        self._clock = clock
        self._cache: dict[str, tuple[float, Standing]] = {}
        self._lookups: dict[str, asyncio.Future[Standing]] = {}

    async def check_request(self, organization_id: str, job: RouteJob) -> None:
        """Raise ``payment_required`` if this request of the organization must wait (SPEC §6:
        while past due only billable flex stops; everything else keeps working)."""
        await self.check(organization_id, billable=self._billable(job))

    async def check(self, organization_id: str, *, billable: bool) -> None:
        """Raise ``payment_required`` if a billable request of this organization must wait."""
        if not billable:
            return
        standing = await self.standing(organization_id)
        if standing.past_due_since is not None:
            since = standing.past_due_since.isoformat().replace("+00:00", "Z")
            raise FlexError(
                "payment_required",
                f"organizations/{organization_id} has a past-due balance (since {since}), so "
                "flex requests (a start window on a priced model) are paused until it is paid. "
                "Add or update the card (BillingService.CreateSetupIntent, or "
                "AttachPaymentMethod): the balance is charged at once and flex resumes within "
                "seconds. Meanwhile service tiers default, priority and auto, and every "
                "Anthropic model, keep working.",
                metadata={"organization": organization_id, "past_due_since": since},
            )
        if self._require_card and not standing.has_card:
            raise FlexError(
                "payment_required",
                f"organizations/{organization_id} has no card on file, and this server requires "
                "one before flex requests on priced models. Add a card with "
                "BillingService.CreateSetupIntent (or AttachPaymentMethod); service tiers "
                "default, priority and auto keep working without one.",
                metadata={"organization": organization_id, "reason": "no_card_on_file"},
            )

    def invalidate(self, organization_id: str) -> None:
        """Forget the cached standing (this replica just changed it)."""
        self._cache.pop(organization_id, None)

    async def standing(self, organization_id: str) -> Standing:
        now = self._clock()
        cached = self._cache.get(organization_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._lookups.get(organization_id)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(organization_id, cached))
            self._lookups[organization_id] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(organization_id, None))
        return await asyncio.shield(pending)

    async def _lookup(
        self, organization_id: str, cached: tuple[float, Standing] | None
    ) -> Standing:
        try:
            standing = await asyncio.to_thread(self._load, organization_id)
        except Exception:
            # The database is unreachable: keep the last answer (or let the request through)
            # rather than fail every flex request; recording it will fail loudly anyway.
            log.exception("could not read the billing standing of %s", organization_id)
            return cached[1] if cached is not None else _GOOD
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[organization_id] = (self._clock() + self._ttl, standing)
        return standing

    def _load(self, organization_id: str) -> Standing:
        with self._sessions() as session:
            row = session.execute(
                select(BillingAccount.past_due_since, BillingAccount.payment_method_id).where(
                    BillingAccount.organization_id == organization_id
                )
            ).first()
        if row is None:
            return _GOOD
        return Standing(row[0], row[1] is not None)
