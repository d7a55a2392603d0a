"""The dashboard end to end, in a real browser (Debian's Chromium through Playwright), against
a real ``flexgrpc serve``, localstripe (its Stripe.js and Elements stand-in included), the
provider simulator and the official ``openai`` SDK.

Each test is a person's path through the pages; assertions are what the person sees. The
pages' screenshots (``docs/dashboard/*.png``, shown in the README) are taken on the way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from flexgrpc.billing.periods import Period
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.domain import TokenCounts
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.sim import SimulatorThread
from tests.billing.localstripe_server import run_localstripe
from tests.compat.browser import SCREENSHOTS, launched_chromium
from tests.compat.conftest import OPENAI_MODEL, WINDOW, server_env, start_rest_server
from tests.records import flex_record
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated:DeprecationWarning")
# How long a page may take to show what is expected (a card save calls Stripe several times) on
# a loaded 2-core machine; a wait's upper bound, not a speed assertion.
expect.set_options(timeout=20_000)

GOOD_CARD = "4242424242424242"
#: localstripe's (and Stripe's) card that is saved fine and then declines every charge.
DECLINING_CARD = "4000000000000341"
PASSWORD = "correct horse battery staple"
CENT = 10_000_000  # nano-USD
_emails = itertools.count(1)
_requests = itertools.count(1)


@dataclass
class Stack:
    process: ServerProcess
    http_port: int
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dashboard(self) -> str:
        return f"{self.url}/dashboard"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as launched:
        assert isinstance(launched, Browser)
        yield launched


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("dashboard")
    with run_localstripe() as localstripe:
        env = server_env(
            home,
            sim,
            FLEXGRPC_STRIPE_API_KEY="sk_test_flexgrpc",
            FLEXGRPC_STRIPE_API_BASE=localstripe,
            FLEXGRPC_STRIPE_MAX_NETWORK_RETRIES="0",
            FLEXGRPC_DASHBOARD_STRIPE_JS_URL=f"{localstripe}/js.stripe.com/v3/",
            FLEXGRPC_DASHBOARD_STRIPE_PUBLISHABLE_KEY="pk_test_flexgrpc",
            FLEXGRPC_DASHBOARD_SIGN_IN_FAILURES_PER_ADDRESS="1000",
        )
        process, port = start_rest_server(home, env)
        try:
            yield Stack(process, port, env)
        finally:
            process.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


# --- what a person does -----------------------------------------------------------------


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_up(page: Page, stack: Stack, organization: str, *, shot: bool = False) -> str:
    email = f"person{next(_emails)}@example.com"
    page.goto(f"{stack.dashboard}/sign-up")
    page.get_by_label("Organization name").fill(organization)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    if shot:
        screenshot(page, "sign-up")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/dashboard/overview"))
    expect(page.get_by_role("status")).to_contain_text("Your organization is ready")
    return email


def sign_in(page: Page, stack: Stack, email: str) -> None:
    page.goto(f"{stack.dashboard}/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/overview"))


def create_api_key(page: Page, stack: Stack, *, shot: bool = False) -> str:
    page.goto(f"{stack.dashboard}/api-keys")
    page.get_by_role("button", name="Create API key").click()
    secret = page.get_by_label("API key", exact=True)
    expect(secret).to_have_value(re.compile(r"^flex_live_[0-9a-f]{30}$"))
    expect(page.get_by_text("shown only this once")).to_be_visible()
    if shot:
        screenshot(page, "api-keys")
    return secret.input_value()


def add_openai_key(page: Page, stack: Stack, *, shot: bool = False) -> None:
    page.goto(f"{stack.dashboard}/provider-keys")
    page.get_by_label("OpenAI API key").fill("sk-test-" + "a" * 32)
    page.get_by_role("region", name="OpenAI").get_by_role("button", name="Save key").click()
    expect(page.get_by_role("status")).to_contain_text("provider key is saved")
    expect(page.locator("#openai-status")).to_contain_text("On file: sha256:")
    if shot:
        screenshot(page, "provider-keys")


def save_card(page: Page, stack: Stack, number: str, *, shot: bool = False) -> None:
    """Billing → Add/Update card → type the card into Stripe Elements → Save card."""
    page.goto(f"{stack.dashboard}/billing")
    page.get_by_role("button", name=re.compile(r"^(Add|Update) card$")).click()
    expect(page).to_have_url(re.compile(r"/dashboard/billing/card/new"))
    element = page.locator("#card-element")
    element.get_by_placeholder("number").fill(number)
    element.get_by_placeholder("exp_month").fill("12")
    element.get_by_placeholder("exp_year").fill("34")
    element.get_by_placeholder("cvc").fill("123")
    element.get_by_placeholder("postal_code").fill("10001")
    if shot:
        screenshot(page, "card")
    page.get_by_role("button", name="Save card").click()
    expect(page).to_have_url(re.compile(r"/dashboard/billing\?done=card-saved"))
    expect(page.locator("#card-on-file")).to_contain_text(f"ending in {number[-4:]}")


def organization_of(stack: Stack, api_key: str) -> str:
    answer = httpx.get(
        f"{stack.url}/v1/organizations/-", headers={"authorization": f"Bearer {api_key}"}
    )
    answer.raise_for_status()
    return str(answer.json()["name"]).removeprefix("organizations/")


def owe(stack: Stack, organization_id: str, period: Period, cents: int, days: int = 20) -> None:
    """Commission of ``cents`` in ``period``, spread over its first ``days`` days (as flex
    requests of two models would leave it)."""
    engine = make_engine(stack.env["FLEXGRPC_DATABASE_URL"])
    per_day = cents * CENT // days
    rows = []
    for day in range(days):
        at = dt.datetime(period.year, period.month, day + 1, 12, tzinfo=dt.UTC)
        commission = per_day if day < days - 1 else cents * CENT - per_day * (days - 1)
        record = flex_record(
            organization_id,
            f"req_seeded_{next(_requests):06d}",
            commission=commission,
            actual=commission * 4,
            standard=commission * 9,
            at=at,
            prices={},
            tokens=TokenCounts(uncached_input=1000, output=4000),
        )
        model = OPENAI_MODEL if day % 3 else "gemini-3-flash-preview"
        row = dataclasses.replace(
            record, api_key_id="key_seeded", model=model, time_to_start_ms=900
        )
        rows.append(row)
    try:
        LedgerStore(make_sessionmaker(engine)).write(rows)
    finally:
        engine.dispose()


def close(stack: Stack, period: Period) -> str:
    """The operator's monthly close, as `flexgrpc billing close` runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "flexgrpc.cli", "billing", "close", "--period", str(period)],
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def flex(stack: Stack, api_key: str) -> Any:
    sdk = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=api_key, max_retries=0, timeout=60)
    return sdk.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"start_within": WINDOW},
    )


def months_ago(count: int) -> Period:
    period = Period.containing(dt.datetime.now(dt.UTC))
    for _ in range(count):
        period = period.previous()
    return period


# --- 1. sign up → API key → provider key → a request through the SDK → it is in Usage ------


def test_a_new_customer_signs_up_adds_keys_and_sees_the_request_and_its_savings(
    page: Page, stack: Stack
) -> None:
    page.goto(f"{stack.dashboard}/sign-in")
    screenshot(page, "sign-in")
    sign_up(page, stack, "Ada Labs", shot=True)
    expect(page.locator("#total-requests")).to_have_text("0")
    api_key = create_api_key(page, stack, shot=True)
    page.reload()
    expect(page.get_by_label("API key", exact=True)).to_have_count(0)  # shown once only
    add_openai_key(page, stack, shot=True)

    raw = flex(stack, api_key)
    assert raw.parse().service_tier == "flex"
    savings = int(raw.headers["x-flexinference-savings"])
    assert savings > 0

    page.goto(f"{stack.dashboard}/overview")
    expect(page.locator("#total-requests")).to_have_text("1")
    row = page.locator("#recent-requests tbody tr").first
    expect(row).to_contain_text(OPENAI_MODEL)
    expect(row).to_contain_text("flex won")
    expect(row).to_contain_text(f"${savings // 1_000_000}.{savings % 1_000_000:06d}")
    expect(page.locator("#total-savings")).to_have_text(
        f"${savings // 1_000_000}.{savings % 1_000_000:06d}"
    )
    csv = page.request.get(f"{stack.dashboard}/overview.csv")
    assert csv.ok
    assert f"{OPENAI_MODEL},1,1,1," in csv.text()


def test_a_key_created_with_a_default_start_within_races_without_a_body_field(
    page: Page, stack: Stack
) -> None:
    sign_up(page, stack, "Batch Jobs Ltd")
    add_openai_key(page, stack)
    page.goto(f"{stack.dashboard}/api-keys")
    page.get_by_label("Default start_within").fill("00h-00m-30s")
    page.get_by_role("button", name="Create API key").click()
    api_key = page.get_by_label("API key", exact=True).input_value()
    expect(page.locator("#api-keys tbody tr").first).to_contain_text("00h-00m-30s")

    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=api_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().service_tier == "flex"
    assert raw.headers["x-flexinference-start-within-source"] == "key_default"
    page.goto(f"{stack.dashboard}/usage/{raw.headers['x-flexinference-request-id']}")
    expect(page.locator("dl.facts dd", has_text="key default")).to_have_count(1)


# --- 2. a card through Stripe Elements → the close charges it → the invoice is paid ---------


def test_a_card_added_with_stripe_elements_pays_the_invoice_at_the_close(
    page: Page, stack: Stack
) -> None:
    sign_up(page, stack, "Grace Systems")
    api_key = create_api_key(page, stack)
    page.goto(f"{stack.dashboard}/billing")
    expect(page.locator("#card-on-file")).to_contain_text("No card on file")
    save_card(page, stack, GOOD_CARD, shot=True)
    expect(page.locator("#card-on-file")).to_contain_text("Visa ending in 4242")

    period = months_ago(2)
    owe(stack, organization_of(stack, api_key), period, cents=2500)
    page.goto(f"{stack.dashboard}/overview?period={period}")
    expect(page.locator("#total-commission")).to_have_text("$25.00")
    page.wait_for_function("() => document.querySelector('#daily-chart').width > 0")
    screenshot(page, "overview")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()  # as a phone would load it
    page.wait_for_function("() => document.querySelector('#daily-chart').width > 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows
    screenshot(page, "overview-phone")
    page.set_viewport_size({"width": 1200, "height": 900})

    assert "1/1 charges succeeded" in close(stack, period)
    page.goto(f"{stack.dashboard}/billing")
    invoice = page.locator("#invoices tbody tr", has_text=str(period))
    expect(invoice).to_contain_text("paid")
    expect(invoice).to_contain_text("$25.00")
    expect(page.locator("#attempts tbody tr").first).to_contain_text("succeeded")
    expect(page.locator("#past-due-banner")).to_have_count(0)
    screenshot(page, "billing")


# --- 3. a declined charge → past due → 402 → a new card pays → flex again ------------------


def test_a_past_due_balance_pauses_flex_until_the_card_is_updated_in_the_page(
    page: Page, stack: Stack
) -> None:
    sign_up(page, stack, "Hopper Analytics")
    api_key = create_api_key(page, stack)
    add_openai_key(page, stack)
    save_card(page, stack, DECLINING_CARD)

    period = months_ago(1)
    owe(stack, organization_of(stack, api_key), period, cents=3150)
    assert "0/1 charges succeeded" in close(stack, period)

    page.goto(f"{stack.dashboard}/billing")
    banner = page.locator("#past-due-banner")
    expect(banner).to_contain_text("Billable flex is paused")
    expect(banner).to_contain_text("$31.50")
    expect(page.locator("#past-due")).to_have_text("$31.50")
    screenshot(page, "billing-past-due")

    with pytest.raises(openai.APIStatusError) as refused:
        flex(stack, api_key)
    assert refused.value.status_code == 402
    assert refused.value.code == "payment_required"

    save_card(page, stack, GOOD_CARD)
    expect(page.get_by_role("status")).to_contain_text("outstanding balance is paid")
    expect(page.locator("#past-due-banner")).to_have_count(0)
    expect(page.locator("#invoices tbody tr", has_text=str(period))).to_contain_text("paid")

    assert flex(stack, api_key).parse().service_tier == "flex"


# --- 4. sign-out, CSRF, session fixation, one organization never sees another's data -------


def test_signing_out_ends_the_session_for_good(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    sign_up(page, stack, "Lovelace & Co")
    session = next(c for c in context.cookies() if c["name"] == "flexgrpc_session")
    assert session["httpOnly"]
    assert session["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in"))
    # The old cookie, put back, opens nothing: the session was deleted on the server.
    context.add_cookies([{**session}])  # type: ignore[list-item]
    page.goto(f"{stack.dashboard}/api-keys")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in"))


def test_a_forged_form_post_is_refused_and_changes_nothing(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    sign_up(page, stack, "Forgery Target")
    page.goto(f"{stack.dashboard}/api-keys")
    expect(page.get_by_text("No API keys yet.")).to_be_visible()

    # A page of another site that posts the "Create API key" form.
    attacker = context.new_page()
    attacker.set_content(
        f'<form id="f" method="post" action="{stack.dashboard}/api-keys">'
        '<input name="request_id" value="forged"></form>'
    )
    attacker.evaluate("document.getElementById('f').submit()")
    attacker.wait_for_load_state()
    expect(attacker.locator("#new-key")).to_have_count(0)

    # The same post with the session's cookie but without its CSRF token.
    forged = page.request.post(
        f"{stack.dashboard}/api-keys", form={"request_id": "forged-2"}, max_redirects=0
    )
    assert forged.status == 403
    assert "nothing was changed" in forged.text()

    page.goto(f"{stack.dashboard}/api-keys")
    expect(page.get_by_text("No API keys yet.")).to_be_visible()


def test_signing_in_never_keeps_a_session_token_planted_before(
    browser: Browser, stack: Stack
) -> None:
    attacker_ctx = browser.new_context()
    victim_ctx = browser.new_context()
    try:
        attacker, victim = attacker_ctx.new_page(), victim_ctx.new_page()
        attacker_email = sign_up(attacker, stack, "Mallory Inc")
        victim_email = sign_up(victim, stack, "Victim Ltd")
        victim.get_by_role("button", name="Sign out").click()
        planted = next(c for c in attacker_ctx.cookies() if c["name"] == "flexgrpc_session")
        victim_ctx.add_cookies([{**planted}])  # type: ignore[list-item]

        sign_in(victim, stack, victim_email)
        now = next(c for c in victim_ctx.cookies() if c["name"] == "flexgrpc_session")
        assert now["value"] != planted["value"]
        victim.goto(f"{stack.dashboard}/settings")
        expect(victim.get_by_label("Organization name")).to_have_value("Victim Ltd")
        # The planted token was ended when the victim signed in.
        attacker.goto(f"{stack.dashboard}/settings")
        expect(attacker).to_have_url(re.compile(r"/dashboard/sign-in"))
        sign_in(attacker, stack, attacker_email)
        attacker.goto(f"{stack.dashboard}/settings")
        expect(attacker.get_by_label("Organization name")).to_have_value("Mallory Inc")
    finally:
        attacker_ctx.close()
        victim_ctx.close()


def test_one_organizations_session_never_reaches_another_organizations_data(
    browser: Browser, stack: Stack
) -> None:
    first_ctx, second_ctx = browser.new_context(), browser.new_context()
    try:
        first, second = first_ctx.new_page(), second_ctx.new_page()
        sign_up(first, stack, "First Org")
        first_key = create_api_key(first, stack)
        add_openai_key(first, stack)
        request_id = flex(stack, first_key).headers["x-flexinference-request-id"]
        first.goto(f"{stack.dashboard}/api-keys")
        key_id = first.locator("#api-keys tbody tr td.mono").first.inner_text()

        sign_up(second, stack, "Second Org")
        assert second.goto(f"{stack.dashboard}/usage/{request_id}").status == 404  # type: ignore[union-attr]
        expect(second.get_by_role("alert")).to_contain_text("does not exist")
        assert first.goto(f"{stack.dashboard}/usage/{request_id}").status == 200  # type: ignore[union-attr]

        second.goto(f"{stack.dashboard}/api-keys")
        token = second.locator('input[name="csrf_token"]').first.input_value()
        revoked = second.request.post(
            f"{stack.dashboard}/api-keys/{key_id}/revoke", form={"csrf_token": token}
        )
        assert revoked.status == 404
        first.goto(f"{stack.dashboard}/api-keys")
        expect(first.locator("#api-keys tbody tr").first).to_contain_text("active")
        second.goto(f"{stack.dashboard}/overview")
        expect(second.locator("#total-requests")).to_have_text("0")
    finally:
        first_ctx.close()
        second_ctx.close()


def test_every_page_passes_its_own_policy_and_loads_only_local_assets(
    page: Page, stack: Stack
) -> None:
    violations: list[str] = []
    foreign: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.on(
        "request",
        lambda r: foreign.append(r.url) if not r.url.startswith(stack.url) else None,
    )
    sign_up(page, stack, "Policy Check")
    for path in ("overview", "billing", "api-keys", "provider-keys", "settings"):
        page.goto(f"{stack.dashboard}/{path}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, "settings")
    assert violations == []
    assert foreign == []
