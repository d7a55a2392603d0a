"""The dashboard's pure parts (money on pages, periods, the security policy) and its pages that
need no RPC (sign-up, sign-in, refusals), through Starlette's test client."""

from __future__ import annotations

import datetime as dt
import pathlib
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from flexgrpc.accounts.store import AccountStore
from flexgrpc.config import Settings
from flexgrpc.dashboard import Dashboard
from flexgrpc.dashboard.formatting import decimal_usd, usd
from flexgrpc.dashboard.periods import Month
from flexgrpc.dashboard.security import content_security_policy, same_origin
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.errors import FlexError

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("micro", "plain", "shown"),
    [
        (0, "0.000000", "$0.00"),
        (72_000, "0.072000", "$0.072000"),
        (1, "0.000001", "$0.000001"),
        (25_000_000, "25.000000", "$25.00"),
        (1_234_567_891, "1234.567891", "$1,234.56"),
        (-57_600, "-0.057600", "-$0.057600"),
    ],
)
def test_money_is_written_exactly_from_micro_usd(micro: int, plain: str, shown: str) -> None:
    assert decimal_usd(micro) == plain
    assert usd(micro) == shown


def test_a_month_knows_its_days_and_neighbours() -> None:
    today = dt.date(2026, 12, 2)
    assert str(Month.parse(None, today)) == "2026-12"
    december = Month.parse("2026-12", today)
    assert (str(december.previous), str(december.following)) == ("2026-11", "2027-01")
    assert str(Month.parse("2026-01", today).previous) == "2025-12"
    assert len(Month.parse("2028-02", today).days()) == 29
    assert december.end == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("raw", ["2026-13", "2026-00", "26-12", "2026-1", "december", "1999-12"])
def test_a_malformed_period_is_a_clear_error(raw: str) -> None:
    with pytest.raises(FlexError) as refused:
        Month.parse(raw, dt.date(2026, 12, 2))
    assert refused.value.code == "invalid_argument"
    assert "YYYY-MM" in refused.value.message


def test_the_policy_allows_only_own_assets_and_the_configured_stripe_js() -> None:
    policy = content_security_policy("http://127.0.0.1:4242/js.stripe.com/v3/")
    assert "script-src 'self' http://127.0.0.1:4242;" in policy
    assert "default-src 'none'" in policy
    assert "unsafe" not in policy
    real = content_security_policy("https://js.stripe.com/v3/")
    assert "frame-src https://js.stripe.com https://api.stripe.com https://hooks.stripe.com" in (
        real
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"sec-fetch-site": "same-origin"}, True),
        ({"sec-fetch-site": "cross-site", "origin": "http://app.test"}, False),
        ({"origin": "http://app.test"}, True),
        ({"origin": "http://evil.test"}, False),
        ({"origin": "null"}, False),
        ({}, True),
    ],
)
def test_a_form_from_another_site_is_told_apart(headers: dict[str, str], expected: bool) -> None:
    assert same_origin(headers, "app.test") is expected


# --- pages that need no RPC ----------------------------------------------------------------


def _client(tmp_path: pathlib.Path, **settings: object) -> TestClient:
    url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    upgrade(url)
    maker = make_sessionmaker(make_engine(url))
    configured = Settings(database_url=url).replace(**settings)
    dashboard = Dashboard(configured, maker, AccountStore(maker))
    return TestClient(dashboard.app(channel=None, forwarded_token="t"), base_url="http://app.test")


@pytest.fixture
def client(tmp_path: pathlib.Path) -> Iterator[TestClient]:
    with _client(tmp_path, dashboard_sign_in_failures_per_account=3) as test_client:
        yield test_client


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found[1]


def test_sign_up_can_be_turned_off(tmp_path: pathlib.Path) -> None:
    with _client(tmp_path, dashboard_sign_up=False) as off:
        page = off.get("/dashboard/sign-up")
        assert page.status_code == 404
        assert "Sign-up is turned off" in page.text
        assert "Sign up" not in off.get("/dashboard/sign-in").text
        refused = off.post("/dashboard/sign-up", data={"email": "a@b.co"})
        assert refused.status_code == 404


def test_every_page_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/dashboard/sign-in", "/dashboard/no-such-page", "/dashboard/static/card.js"):
        answer = client.get(path)
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    assert client.get("/dashboard/no-such-page").status_code == 404


def test_signed_out_pages_send_the_browser_to_sign_in(client: TestClient) -> None:
    for path in ("/dashboard/overview", "/dashboard/billing", "/dashboard/api-keys"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/dashboard/sign-in"


def test_a_sign_in_form_without_its_token_is_refused(client: TestClient) -> None:
    client.get("/dashboard/sign-in")
    answer = client.post("/dashboard/sign-in", data={"email": "a@b.co", "password": "x"})
    assert answer.status_code == 403
    assert "reload" in answer.text


def test_repeated_wrong_passwords_for_an_account_are_rate_limited(client: TestClient) -> None:
    token = _token(client.get("/dashboard/sign-up").text)
    signed_up = client.post(
        "/dashboard/sign-up",
        data={"csrf_token": token, "email": "ada@example.com", "password": PASSWORD,
              "organization": "Ada Labs"},
        follow_redirects=False,
    )  # fmt: skip
    assert signed_up.status_code == 303
    client.cookies.clear()
    statuses = []
    for _ in range(4):
        token = _token(client.get("/dashboard/sign-in").text)
        answer = client.post(
            "/dashboard/sign-in",
            data={"csrf_token": token, "email": "ADA@example.com", "password": "wrong password"},
        )
        statuses.append(answer.status_code)
    assert statuses == [401, 401, 401, 429]
    token = _token(client.get("/dashboard/sign-in").text)
    still = client.post(
        "/dashboard/sign-in",
        data={"csrf_token": token, "email": "ada@example.com", "password": PASSWORD},
    )
    assert still.status_code == 429  # even the right password waits out the window
    assert "Retry after" in still.text


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("csrf_token=" + "x" * 20_000, "application/x-www-form-urlencoded", 413),
        ("--b\r\n\r\n--b--", "multipart/form-data; boundary=b", 415),
        ("%ff%fe=1", "application/x-www-form-urlencoded", 403),
    ],
)
def test_unusable_forms_get_a_clear_answer_not_a_crash(
    client: TestClient, body: str, content_type: str, status: int
) -> None:
    client.get("/dashboard/sign-in")
    answer = client.post("/dashboard/sign-in", content=body, headers={"content-type": content_type})
    assert answer.status_code == status
    assert "Traceback" not in answer.text
