"""What every dashboard answer carries: the Content-Security-Policy, cookie attributes and the
CSRF checks.

The policy allows the app's own scripts, styles and images and, for the Billing page, Stripe.js
from its configured origin (Stripe Elements loads frames from there and calls Stripe's API);
nothing inline is allowed to run, so the pages pass data to their scripts in
``<script type="application/json">`` blocks, which are data, not code.
"""

from __future__ import annotations

import hmac
import secrets
import urllib.parse
from collections.abc import Mapping
from typing import Final

#: The anonymous forms' CSRF cookie (sign-in, sign-up, sign-in links): a double-submit token,
#: since those forms have no session yet.
FORM_COOKIE: Final = "flexgrpc_form"
SESSION_COOKIE: Final = "flexgrpc_session"
COOKIE_PATH: Final = "/dashboard"

#: Where the real Stripe.js sends its requests and loads its frames from, besides its own origin.
_STRIPE_ORIGINS: Final = {
    "https://js.stripe.com": ("https://api.stripe.com", "https://hooks.stripe.com"),
}


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(stripe_js_url: str) -> str:
    stripe = origin_of(stripe_js_url)
    also = " ".join(_STRIPE_ORIGINS.get(stripe, ()))
    stripe_all = f"{stripe} {also}".strip()
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {stripe}",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {stripe_all}",
            f"frame-src {stripe_all}",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(stripe_js_url: str) -> dict[str, str]:
    return {
        "content-security-policy": content_security_policy(stripe_js_url),
        "x-content-type-options": "nosniff",
        # Same-origin requests keep their Origin (which the CSRF check reads); no other site
        # learns a dashboard URL (a sign-in link's token is in one).
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "cache-control": "no-store",
    }


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(given: str | None, expected: str | None) -> bool:
    if not given or not expected or len(given) > 128:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def same_origin(headers: Mapping[str, str], host: str) -> bool:
    """False when the browser says the form came from another site (``Origin`` or
    ``Sec-Fetch-Site``); True when it says nothing (older browsers, curl) — the token decides."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urllib.parse.urlsplit(origin).netloc == host
