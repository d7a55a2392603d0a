"""Dashboard accounts: sign-up creates a person and their organization; sign-in checks a
password. Synchronous and short; the web app calls them through a thread."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.accounts.store import AccountStore
from flexgrpc.dashboard.passwords import (
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from flexgrpc.db.engine import write_session
from flexgrpc.db.models import DashboardUser, Organization
from flexgrpc.errors import FlexError

_EMAIL_MAX: Final = 254
#: Deliberately loose: one @, something on each side, a dot in the domain, no spaces. Whether
#: the address receives mail is not ours to decide at sign-up.
_EMAIL_SHAPE: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    organization_id: str
    email: str


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize_email(email: str) -> str:
    address = email.strip().lower()
    if len(address) > _EMAIL_MAX or not _EMAIL_SHAPE.fullmatch(address):
        raise FlexError(
            "invalid_argument",
            "Enter an email address such as ada@example.com.",
            field="email",
        )
    return address


class UserStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        accounts: AccountStore,
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._clock = clock

    def sign_up(self, email: str, password: str, organization_name: str) -> UserInfo:
        """A new person and a new organization of theirs; nothing is created on bad input."""
        address = normalize_email(email)
        check_new_password(password)
        with self._sessions() as session:
            taken = session.scalar(select(DashboardUser.id).where(DashboardUser.email == address))
        if taken is not None:
            raise _address_taken()
        digest = hash_password(password)
        organization = self._accounts.create_organization(organization_name)
        row = DashboardUser(
            id=f"usr_{secrets.token_hex(8)}",
            organization_id=organization.id,
            email=address,
            password_hash=digest,
            create_time=self._clock(),
        )
        try:
            with write_session(self._sessions) as session:
                session.add(row)
        except IntegrityError:  # the same address signed up at the same moment
            with write_session(self._sessions) as session:
                orphan = session.get(Organization, organization.id)
                if orphan is not None:
                    session.delete(orphan)
            raise _address_taken() from None
        return UserInfo(row.id, row.organization_id, row.email)

    def check_password(self, email: str, password: str) -> UserInfo | None:
        """The person whose address and password these are, else ``None`` (equally slow)."""
        try:
            address = normalize_email(email)
        except FlexError:
            address = ""
        with self._sessions() as session:
            row = session.scalars(
                select(DashboardUser).where(DashboardUser.email == address)
            ).first()
        if not verify_password(row.password_hash if row is not None else None, password):
            return None
        assert row is not None
        if needs_rehash(row.password_hash):
            with write_session(self._sessions) as session:
                stored = session.get(DashboardUser, row.id)
                if stored is not None:
                    stored.password_hash = hash_password(password)
        return UserInfo(row.id, row.organization_id, row.email)

    def get(self, user_id: str) -> UserInfo | None:
        with self._sessions() as session:
            row = session.get(DashboardUser, user_id)
            return None if row is None else UserInfo(row.id, row.organization_id, row.email)


def _address_taken() -> FlexError:
    return FlexError(
        "invalid_argument",
        "An account with this email address already exists: sign in instead.",
        field="email",
    )
