"""Whether the ledger can write records now, watched so that health can say so.

Every request's record must be durable before its answer ends, so a ledger that cannot commit
(a read-only file, a full disk, a read-only replica) makes every routed request fail. The watch
probes with one small committed write (``LedgerStore.probe``) every ``interval_s``, and at once
when a record could not be stored; ``on_change(writable, reason)`` hears each change, on the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from flexgrpc.ledger.store import LedgerStore

log = logging.getLogger("flexgrpc.ledger")


def failure_reason(error: BaseException) -> str:
    """One line saying why a write failed: the driver's own message, without SQL or values."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


class LedgerWatch:
    def __init__(
        self,
        store: LedgerStore,
        on_change: Callable[[bool, str], Awaitable[None]],
        interval_s: float,
    ) -> None:
        self._store = store
        self._on_change = on_change
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writable = True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ledger-watch")

    def suspect(self) -> None:
        """A record could not be stored: probe now rather than at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            try:
                await asyncio.to_thread(self._store.probe)
                writable, reason = True, ""
            except Exception as exc:
                writable, reason = False, failure_reason(exc)
            if writable != self.writable:
                self.writable = writable
                try:
                    await self._on_change(writable, reason)
                except Exception as exc:  # reporting must never stop the watch
                    log.error("could not report the ledger's state: %s", exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
