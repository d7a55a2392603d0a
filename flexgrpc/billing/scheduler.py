"""The optional scheduler inside ``serve``: closes the month that just ended and keeps
collecting (reconciling unknown outcomes, soft-decline retries). Safe on every replica at once:
the close and the charges are idempotent and locked in the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from flexgrpc.billing.close import PeriodCloser
from flexgrpc.billing.payments import Payments
from flexgrpc.billing.periods import Period
from flexgrpc.billing.records import Clock, utc_now

log = logging.getLogger("flexgrpc.billing.scheduler")


class BillingScheduler:
    def __init__(
        self,
        closer: PeriodCloser,
        payments: Payments,
        *,
        interval_s: float = 300.0,
        clock: Clock = utc_now,
    ) -> None:
        self._closer = closer
        self._payments = payments
        self._interval = interval_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._round: asyncio.Future[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="flexgrpc-billing-scheduler")

    async def stop(self) -> None:
        """Stop; a round already talking to the database or Stripe is let finish first."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._round is not None:
            with contextlib.suppress(Exception):
                await self._round
            self._round = None

    def tick(self) -> None:
        """One round: close last month if nobody has, then collect what is due."""
        period = Period.last_ended(self._clock())
        if not self._closer.is_closed(period):
            self._closer.close(period)
        self._payments.collect_due()

    async def _run(self) -> None:
        while True:
            self._round = asyncio.ensure_future(asyncio.to_thread(self.tick))
            try:
                # Shielded: cancelling the scheduler must not abandon a charge mid-call.
                await asyncio.shield(self._round)
            except Exception:
                log.exception("billing round failed; retrying next round")
            await asyncio.sleep(self._interval)
