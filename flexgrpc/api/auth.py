"""Authentication for RPCs: the principal of a call, a short-lived cache of valid API keys,
the dashboard's session credentials, and the failed-authentication limiter per client address
(SPEC §8).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flexgrpc.accounts.api_keys import API_KEY_LENGTH, check_api_key_format
from flexgrpc.accounts.store import AccountStore, Principal
from flexgrpc.errors import FlexError

_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("flexgrpc_principal")

_BEARER = "bearer "
_MISSING = (
    "No API key was sent. Send `authorization: Bearer flex_live_…` "
    "(gRPC metadata or the HTTP Authorization header)."
)
_INVALID = (
    "The API key is not valid: it is malformed, has a bad checksum, is unknown, or was revoked. "
    "Keys look like `flex_live_` followed by 30 hex digits; create one with `flexgrpc key create`."
)


_EXPIRED_SESSION = "The dashboard session has ended (signed out or expired): sign in again."


class SessionCredentials(Protocol):
    """Resolves a signed-in dashboard session's token (the dashboard owns sessions)."""

    def principal_for_session(self, token: str) -> Principal | None: ...


def bind_principal(principal: Principal) -> None:
    """Make ``principal`` the caller of the current RPC (called by the auth interceptor)."""
    _principal.set(principal)


def current_principal() -> Principal:
    """The authenticated caller of the current RPC."""
    try:
        return _principal.get()
    except LookupError:
        raise FlexError("missing_api_key", _MISSING) from None


def client_address(peer: str) -> str:
    """The address part of a gRPC peer string (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``)."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host, _, _port = rest.rpartition(":")
        return host.strip("[]") or rest
    return peer


@dataclass
class _Window:
    start: float
    failures: int


class FailedAuthLimiter:
    """Counts failed authentications per client address in fixed one-minute windows."""

    WINDOW_S = 60.0
    _MAX_TRACKED = 100_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def check(self, address: str) -> None:
        """Raise ``rate_limit_exceeded`` if ``address`` used up its failures this window."""
        window = self._windows.get(address)
        if window is None:
            return
        elapsed = self._clock() - window.start
        if elapsed >= self.WINDOW_S:
            del self._windows[address]
        elif window.failures >= self._limit:
            retry_after = max(1, math.ceil(self.WINDOW_S - elapsed))
            raise FlexError(
                "rate_limit_exceeded",
                f"Too many failed authentications from this address ({self._limit} per minute). "
                f"Retry after {retry_after} s with a valid API key.",
                retry_after_s=retry_after,
            )

    def record_failure(self, address: str) -> None:
        now = self._clock()
        window = self._windows.get(address)
        if window is None or now - window.start >= self.WINDOW_S:
            if len(self._windows) >= self._MAX_TRACKED:
                self._forget_expired(now)
            self._windows[address] = _Window(now, 1)
        else:
            window.failures += 1

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, w in self._windows.items() if now - w.start >= self.WINDOW_S]:
            del self._windows[key]
        if len(self._windows) >= self._MAX_TRACKED:  # under attack from many addresses
            self._windows.clear()


class Authenticator:
    """Resolves an ``authorization`` value to a ``Principal``, or raises the spec's codes.

    Valid keys are cached for ``cache_ttl_s`` (keyed by the key's hash, never the key), so a
    revocation takes effect on every replica within that time without a database read per call.
    """

    def __init__(
        self,
        store: AccountStore,
        *,
        cache_ttl_s: float,
        failures_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sessions: SessionCredentials | None = None,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._ttl = cache_ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._limiter = FailedAuthLimiter(failures_per_minute, clock)

    async def authenticate(self, header: str | None, peer: str) -> Principal:
        address = client_address(peer)
        self._limiter.check(address)
        if header is None or header[: len(_BEARER)].lower() != _BEARER:
            self._limiter.record_failure(address)
            raise FlexError("missing_api_key", _MISSING)
        token = header[len(_BEARER) :].strip()
        # The length first, so that a long header is never hashed.
        principal = await self._lookup(token) if len(token) == API_KEY_LENGTH else None
        if principal is None:
            self._limiter.record_failure(address)
            raise FlexError("invalid_api_key", _INVALID)
        return principal

    async def authenticate_session(self, token: str, peer: str) -> Principal:
        """The principal of a dashboard session; never cached, so that signing out (or the
        session's expiry) ends it for the very next call."""
        address = client_address(peer)
        self._limiter.check(address)
        principal = None
        if self._sessions is not None and 0 < len(token) <= 128:
            principal = await asyncio.to_thread(self._sessions.principal_for_session, token)
        if principal is None:
            self._limiter.record_failure(address)
            raise FlexError("missing_api_key", _EXPIRED_SESSION)
        return principal

    async def _lookup(self, token: str) -> Principal | None:
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        hit = self._cache.get(cache_key)
        if hit is not None and hit[1] > now:
            return hit[0]  # its format was checked before it was cached
        if not check_api_key_format(token):
            return None
        principal = await asyncio.to_thread(self._store.authenticate, token)
        if principal is None:
            self._cache.pop(cache_key, None)
        elif self._ttl > 0:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[cache_key] = (principal, now + self._ttl)
        return principal
