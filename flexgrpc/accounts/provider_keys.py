"""Provider keys for the hot path: decrypted once, then kept in memory for a short time.

A request must not pay a database read and an AES-GCM decryption each time; a changed or
deleted key takes effect within ``ttl_s`` on every replica.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from flexgrpc.accounts.store import AccountStore


class ProviderKeyCache:
    def __init__(
        self, store: AccountStore, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl_s
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[str | None, float]] = {}

    async def get(self, organization_id: str, provider: str) -> str | None:
        """The organization's key for ``provider``; ``None`` when absent or undecryptable."""
        entry = self._entries.get((organization_id, provider))
        now = self._clock()
        if entry is not None and entry[1] > now:
            return entry[0]
        key = await asyncio.to_thread(self._store.get_provider_key, organization_id, provider)
        if self._ttl > 0:
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[(organization_id, provider)] = (key, now + self._ttl)
        return key
