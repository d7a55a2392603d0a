"""Signed-in browsers: server-side sessions in the database, and one-time sign-in links.

A session is opened only by proving who one is (a password, or an operator's link), always with
a fresh token, and the browser's previous session (if it sent one) is ended at that moment, so a
token planted before sign-in never becomes a signed-in one (no session fixation). Signing out
deletes the row. Each session carries its own CSRF token.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.accounts.store import Principal
from flexgrpc.dashboard.tokens import new_token, plausible, token_hash
from flexgrpc.db.engine import write_session
from flexgrpc.db.models import DashboardSession, DashboardSignInLink, Organization
from flexgrpc.errors import FlexError


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session, as a page sees it."""

    #: The SHA-256 of the token: names the session in logs and principals, never the token.
    id: str
    organization_id: str
    user_id: str | None
    csrf_token: str
    expire_time: dt.datetime


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str
    session: SignedIn


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SessionStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ttl: dt.timedelta,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._clock = clock

    def open(
        self, organization_id: str, user_id: str | None, replacing: str | None = None
    ) -> OpenedSession:
        """A new session; ``replacing`` (the browser's previous token) is ended with it."""
        token = new_token()
        now = self._clock()
        row = DashboardSession(
            token_hash=token_hash(token),
            organization_id=organization_id,
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            create_time=now,
            expire_time=now + self._ttl,
        )
        with write_session(self._sessions) as session:
            if plausible(replacing):
                assert replacing is not None
                session.execute(
                    delete(DashboardSession).where(
                        DashboardSession.token_hash == token_hash(replacing)
                    )
                )
            # Expired sessions are swept as new ones open: the table holds live ones only.
            session.execute(delete(DashboardSession).where(DashboardSession.expire_time <= now))
            session.add(row)
        return OpenedSession(token, _signed_in(row))

    def find(self, token: str | None) -> SignedIn | None:
        """The live session of ``token``; ``None`` when unknown, ended or expired."""
        if not plausible(token):
            return None
        assert token is not None
        with self._sessions() as session:
            row = session.get(DashboardSession, token_hash(token))
        if row is None or row.expire_time <= self._clock():
            return None
        return _signed_in(row)

    def principal_for_session(self, token: str) -> Principal | None:
        found = self.find(token)
        if found is None:
            return None
        return Principal(organization_id=found.organization_id, api_key_id="", session_id=found.id)

    def end(self, token: str | None) -> None:
        if not plausible(token):
            return
        assert token is not None
        with write_session(self._sessions) as session:
            session.execute(
                delete(DashboardSession).where(DashboardSession.token_hash == token_hash(token))
            )

    # --- one-time sign-in links (issued by an operator) -----------------------------------

    def issue_link(self, organization_id: str, ttl: dt.timedelta) -> str:
        token = new_token()
        now = self._clock()
        with write_session(self._sessions) as session:
            if session.get(Organization, organization_id) is None:
                raise FlexError(
                    "not_found",
                    f"organization {organization_id!r} does not exist: `flexgrpc org list` "
                    "shows the ids",
                    field="organization_id",
                )
            session.add(
                DashboardSignInLink(
                    token_hash=token_hash(token),
                    organization_id=organization_id,
                    create_time=now,
                    expire_time=now + ttl,
                    use_time=None,
                )
            )
        return token

    def redeem_link(self, token: str | None, replacing: str | None) -> OpenedSession | None:
        """A session for the link's organization, if the link is unused and unexpired."""
        if not plausible(token):
            return None
        assert token is not None
        now = self._clock()
        with write_session(self._sessions) as session:
            link = session.get(DashboardSignInLink, token_hash(token))
            if link is None or link.expire_time <= now:
                return None
            # Conditional: two tabs redeeming the same link at once open one session.
            used = session.execute(
                update(DashboardSignInLink)
                .where(
                    DashboardSignInLink.token_hash == link.token_hash,
                    DashboardSignInLink.use_time.is_(None),
                )
                .values(use_time=now)
            )
            if not getattr(used, "rowcount", 0):
                return None
            organization_id = link.organization_id
        return self.open(organization_id, None, replacing)


def _signed_in(row: DashboardSession) -> SignedIn:
    return SignedIn(
        id=row.token_hash[:16],
        organization_id=row.organization_id,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        expire_time=row.expire_time,
    )
