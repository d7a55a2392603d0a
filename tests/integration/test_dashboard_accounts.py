"""Dashboard accounts, sessions and sign-in links in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from flexgrpc.accounts.store import AccountStore
from flexgrpc.dashboard.sessions import SessionStore
from flexgrpc.dashboard.tokens import token_hash
from flexgrpc.dashboard.users import UserStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.db.models import DashboardSession, DashboardUser, Organization
from flexgrpc.errors import FlexError

PASSWORD = "correct horse battery staple"


@dataclass
class Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Stores:
    accounts: AccountStore
    users: UserStore
    sessions: SessionStore
    clock: Clock
    maker: object


@pytest.fixture
def stores(database_url: str) -> Iterator[Stores]:
    engine = make_engine(database_url)
    upgrade(engine)
    maker = make_sessionmaker(engine)
    clock = Clock(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    accounts = AccountStore(maker)
    yield Stores(
        accounts,
        UserStore(maker, accounts, clock=clock),
        SessionStore(maker, ttl=dt.timedelta(hours=12), clock=clock),
        clock,
        maker,
    )
    engine.dispose()


def test_sign_up_creates_a_person_and_their_organization(stores: Stores) -> None:
    user = stores.users.sign_up(" Ada@Example.COM ", PASSWORD, "Ada Labs")
    assert user.email == "ada@example.com"
    org = stores.accounts.get_organization(user.organization_id)
    assert org is not None
    assert org.display_name == "Ada Labs"
    assert stores.users.check_password("ADA@example.com", PASSWORD) == user
    assert stores.users.check_password("ada@example.com", PASSWORD + "!") is None
    assert stores.users.check_password("nobody@example.com", PASSWORD) is None


def test_the_password_is_stored_only_as_an_argon2id_hash(stores: Stores) -> None:
    stores.users.sign_up("ada@example.com", PASSWORD, "Ada Labs")
    with stores.maker() as session:  # type: ignore[operator]
        stored = session.scalar(select(DashboardUser.password_hash))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("email", "password", "organization", "field"),
    [
        ("not-an-address", PASSWORD, "Acme", "email"),
        ("ada@example.com", "short", "Acme", "password"),
        ("ada@example.com", PASSWORD, "   ", "display_name"),
    ],
)
def test_a_bad_sign_up_is_refused_and_creates_nothing(
    stores: Stores, email: str, password: str, organization: str, field: str
) -> None:
    with pytest.raises(FlexError) as refused:
        stores.users.sign_up(email, password, organization)
    assert refused.value.field == field
    with stores.maker() as session:  # type: ignore[operator]
        assert session.scalars(select(Organization)).all() == []
        assert session.scalars(select(DashboardUser)).all() == []


def test_one_address_is_one_account_whatever_its_case(stores: Stores) -> None:
    stores.users.sign_up("ada@example.com", PASSWORD, "First")
    with pytest.raises(FlexError, match="already exists"):
        stores.users.sign_up("ADA@example.com", PASSWORD, "Second")
    assert [o.display_name for o in stores.accounts.list_organizations()] == ["First"]


def test_a_session_is_found_by_its_token_until_it_ends_or_expires(stores: Stores) -> None:
    user = stores.users.sign_up("ada@example.com", PASSWORD, "Ada Labs")
    opened = stores.sessions.open(user.organization_id, user.id)
    found = stores.sessions.find(opened.token)
    assert found is not None
    assert (found.organization_id, found.user_id) == (user.organization_id, user.id)
    principal = stores.sessions.principal_for_session(opened.token)
    assert principal is not None
    assert principal.organization_id == user.organization_id
    assert principal.api_key_id == ""
    with stores.maker() as session:  # type: ignore[operator]
        assert session.get(DashboardSession, opened.token) is None  # stored hashed
        assert session.get(DashboardSession, token_hash(opened.token)) is not None
    stores.clock.now += dt.timedelta(hours=12)
    assert stores.sessions.find(opened.token) is None
    second = stores.sessions.open(user.organization_id, user.id)
    stores.sessions.end(second.token)
    assert stores.sessions.find(second.token) is None


def test_opening_a_session_ends_the_one_the_browser_had(stores: Stores) -> None:
    user = stores.users.sign_up("ada@example.com", PASSWORD, "Ada Labs")
    planted = stores.sessions.open(user.organization_id, user.id)
    fresh = stores.sessions.open(user.organization_id, user.id, replacing=planted.token)
    assert fresh.token != planted.token
    assert stores.sessions.find(planted.token) is None
    assert stores.sessions.find(fresh.token) is not None


@pytest.mark.parametrize("token", [None, "", "x" * 65, "ünïcode", "unknown-token"])
def test_junk_tokens_open_nothing(stores: Stores, token: str | None) -> None:
    assert stores.sessions.find(token) is None
    assert stores.sessions.redeem_link(token, None) is None


def test_a_sign_in_link_works_once_and_only_before_it_expires(stores: Stores) -> None:
    org = stores.accounts.create_organization("Linked")
    link = stores.sessions.issue_link(org.id, dt.timedelta(minutes=30))
    opened = stores.sessions.redeem_link(link, None)
    assert opened is not None
    assert opened.session.organization_id == org.id
    assert opened.session.user_id is None
    assert stores.sessions.redeem_link(link, None) is None
    late = stores.sessions.issue_link(org.id, dt.timedelta(minutes=30))
    stores.clock.now += dt.timedelta(minutes=31)
    assert stores.sessions.redeem_link(late, None) is None


def test_a_link_for_an_unknown_organization_is_refused(stores: Stores) -> None:
    with pytest.raises(FlexError) as refused:
        stores.sessions.issue_link("org_missing", dt.timedelta(minutes=5))
    assert refused.value.code == "not_found"
