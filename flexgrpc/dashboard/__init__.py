"""The customer's web app on the REST port, under ``/dashboard``: sign-up and sign-in, usage and
savings, API keys, provider keys and the Billing page with Stripe Elements. Every action is a
public RPC, made as the signed-in session through the server's own channel and interceptors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp

from flexgrpc.accounts.store import AccountStore
from flexgrpc.api.auth import FailedAuthLimiter
from flexgrpc.config import Settings
from flexgrpc.dashboard.app import build_app
from flexgrpc.dashboard.rpc import DashboardRpc
from flexgrpc.dashboard.sessions import SessionStore
from flexgrpc.dashboard.users import UserStore
from flexgrpc.dashboard.web import PREFIX, DashboardSettings, Web

__all__ = ["PREFIX", "Dashboard", "SessionStore"]


class Dashboard:
    """The dashboard's stores; ``app(channel)`` builds its ASGI app once the channel exists."""

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], accounts: AccountStore
    ) -> None:
        self._settings = settings
        self.sessions = SessionStore(
            sessions, ttl=dt.timedelta(seconds=settings.dashboard_session_ttl_s)
        )
        self.users = UserStore(sessions, accounts)

    def app(self, channel: Any, forwarded_token: str) -> ASGIApp:
        s = self._settings
        web = Web(
            rpc=DashboardRpc(channel, forwarded_token),
            users=self.users,
            sessions=self.sessions,
            settings=DashboardSettings(
                sign_up=s.dashboard_sign_up,
                stripe_js_url=s.dashboard_stripe_js_url,
                stripe_publishable_key=s.dashboard_stripe_publishable_key,
                session_ttl=dt.timedelta(seconds=s.dashboard_session_ttl_s),
                secure_cookies=s.dashboard_secure_cookies,
                body_timeout_s=s.http_body_timeout_s,
            ),
            account_limiter=FailedAuthLimiter(s.dashboard_sign_in_failures_per_account),
            address_limiter=FailedAuthLimiter(s.dashboard_sign_in_failures_per_address),
        )
        return build_app(web)
