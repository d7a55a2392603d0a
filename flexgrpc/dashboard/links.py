"""One-time sign-in links, as the operator's CLI and the demo print them."""

from __future__ import annotations

import datetime as dt

from flexgrpc.config import Settings
from flexgrpc.dashboard.sessions import SessionStore
from flexgrpc.dashboard.web import PREFIX

DEFAULT_LINK_TTL = dt.timedelta(minutes=30)


def dashboard_url(settings: Settings, http_port: int | None = None) -> str:
    """Where people reach the dashboard: the configured public URL, else the REST port."""
    if settings.dashboard_public_url:
        return settings.dashboard_public_url.rstrip("/") + PREFIX
    host = settings.http_host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{http_port or settings.http_port}{PREFIX}"


def sign_in_link(
    sessions: SessionStore,
    organization_id: str,
    base_url: str,
    ttl: dt.timedelta = DEFAULT_LINK_TTL,
) -> str:
    token = sessions.issue_link(organization_id, ttl)
    return f"{base_url}/link/{token}"
