"""Group commit: records of concurrent requests share one database transaction.

``record`` returns once the row is durable. While one transaction is being written, new
records queue up; the next transaction takes all of them. So throughput grows with load (one
fsync for many records) while each caller still waits only for its own row to be committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from flexgrpc.ledger.records import UsageRow
from flexgrpc.ledger.store import LedgerStore

log = logging.getLogger("flexgrpc.ledger")


class RecordWriter:
    def __init__(
        self,
        store: LedgerStore,
        max_batch: int = 1000,
        on_commit: Callable[[float, int, bool], None] | None = None,
    ) -> None:
        """``on_commit(seconds, records, ok)`` hears of every group commit (for metrics)."""
        self._store = store
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._pending: list[tuple[UsageRow, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.written = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="flexgrpc-record-writer")

    async def record(self, row: UsageRow) -> None:
        """Store ``row``; return once it is committed (raise if it could not be)."""
        if self._task is None or self._task.done():
            raise RuntimeError("the record writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        self._wake.set()
        await asyncio.shield(future)  # a cancelled caller must not cancel its own record

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[UsageRow, asyncio.Future[None]]]) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._store.write, [row for row, _ in batch])
        except Exception as exc:
            log.error("could not store %d usage records", len(batch), exc_info=exc)
            if self._on_commit is not None:
                self._on_commit(time.perf_counter() - started, len(batch), False)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        elapsed = time.perf_counter() - started
        self.batches += 1
        self.written += len(batch)
        for _, future in batch:
            if not future.done():
                future.set_result(None)
        if self._on_commit is not None:
            self._on_commit(elapsed, len(batch), True)

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._commit(batch)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
