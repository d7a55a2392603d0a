"""What every dashboard page shares: the signed-in visit, rendering with the security headers,
bounded form reading with the CSRF checks, and the answer to a failed call."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import pathlib
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import jinja2
from flexinference.v1 import accounts_pb2
from google.protobuf import message
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from flexgrpc.api.auth import FailedAuthLimiter
from flexgrpc.dashboard import formatting
from flexgrpc.dashboard.rpc import DashboardRpc, RpcFailure
from flexgrpc.dashboard.security import (
    COOKIE_PATH,
    FORM_COOKIE,
    SESSION_COOKIE,
    new_form_token,
    same_origin,
    same_token,
    security_headers,
)
from flexgrpc.dashboard.sessions import OpenedSession, SessionStore, SignedIn
from flexgrpc.dashboard.users import UserStore

log = logging.getLogger("flexgrpc.dashboard")

M = TypeVar("M", bound=message.Message)

PREFIX: Final = "/dashboard"
#: A dashboard form is a few short fields; anything bigger is not one of ours.
MAX_FORM_BYTES: Final = 16 * 1024
_TEMPLATES: Final = pathlib.Path(__file__).parent / "templates"


@dataclass(frozen=True)
class DashboardSettings:
    sign_up: bool
    stripe_js_url: str
    stripe_publishable_key: str | None
    session_ttl: dt.timedelta
    secure_cookies: bool
    body_timeout_s: float


class FormRefused(Exception):
    """A form that cannot be acted on: the status and what to tell the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Visit:
    """A request from a signed-in browser."""

    request: Request
    token: str
    session: SignedIn


def peer_of(request: Request) -> str:
    """The browser's address in gRPC peer syntax (what the auth limiter counts by)."""
    client = request.client
    if client is None:
        return "unknown"
    host = client.host
    return f"ipv6:[{host}]:{client.port}" if ":" in host else f"ipv4:{host}:{client.port}"


class Web:
    """The dashboard's dependencies and the helpers its pages use."""

    def __init__(
        self,
        *,
        rpc: DashboardRpc,
        users: UserStore,
        sessions: SessionStore,
        settings: DashboardSettings,
        account_limiter: FailedAuthLimiter,
        address_limiter: FailedAuthLimiter,
    ) -> None:
        self.rpc = rpc
        self.users = users
        self.sessions = sessions
        self.settings = settings
        self.account_limiter = account_limiter
        self.address_limiter = address_limiter
        self._headers = security_headers(settings.stripe_js_url)
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters.update(formatting.FILTERS)
        self._env.globals.update(prefix=PREFIX, sign_up_enabled=settings.sign_up)

    # --- sessions ------------------------------------------------------------------------

    async def visit(self, request: Request) -> Visit | None:
        token = request.cookies.get(SESSION_COOKIE)
        found = await asyncio.to_thread(self.sessions.find, token)
        if found is None or token is None:
            return None
        return Visit(request, token, found)

    def _secure(self, request: Request) -> bool:
        return self.settings.secure_cookies or request.url.scheme == "https"

    def set_session_cookie(
        self, response: Response, request: Request, opened: OpenedSession
    ) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            opened.token,
            max_age=int(self.settings.session_ttl.total_seconds()),
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self._secure(request),
        )
        response.delete_cookie(FORM_COOKIE, path=COOKIE_PATH)

    def clear_session_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(
            SESSION_COOKIE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self._secure(request),
        )

    # --- calls -----------------------------------------------------------------------------

    async def call(self, visit: Visit, method: str, request: message.Message, reply: type[M]) -> M:
        return await self.rpc.call(
            method, request, reply, session_token=visit.token, peer=peer_of(visit.request)
        )

    async def chrome(self, visit: Visit, page: str) -> dict[str, Any]:
        """What the layout of a signed-in page needs: the organization's name, the CSRF token."""
        organization = await self.call(
            visit,
            "AccountService/GetOrganization",
            accounts_pb2.GetOrganizationRequest(name="organizations/-"),
            accounts_pb2.Organization,
        )
        return {
            "signed_in": True,
            "page": page,
            "csrf_token": visit.session.csrf_token,
            "organization": organization,
        }

    # --- answers ---------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
        form_token: str | None = None,
    ) -> HTMLResponse:
        """The page; for anonymous forms, ``form_token`` is set as the double-submit cookie."""
        html = self._env.get_template(template).render(request_id=str(uuid.uuid4()), **context)
        response = HTMLResponse(html, status_code=status, headers=self._headers)
        if form_token is not None:
            response.set_cookie(
                FORM_COOKIE,
                form_token,
                path=COOKIE_PATH,
                httponly=True,
                samesite="strict",
                secure=self._secure(request),
            )
        return response

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(PREFIX + path, status_code=303, headers=self._headers)

    def to_sign_in(self) -> RedirectResponse:
        return self.redirect("/sign-in")

    def refused(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(
            request, "problem.html", {"status": status, "message": message}, status=status
        )

    def failed(self, visit: Visit, failure: RpcFailure) -> HTMLResponse:
        return self.render(
            visit.request,
            "problem.html",
            {
                "status": failure.http_status,
                "message": failure.message,
                "signed_in": True,
                "page": "",
                "csrf_token": visit.session.csrf_token,
                "organization": None,
            },
            status=failure.http_status,
        )

    # --- forms -----------------------------------------------------------------------------

    async def read_form(self, request: Request) -> FormData:
        """The posted form, bounded in size and time; ``FormRefused`` otherwise."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
            raise FormRefused(413, "That form was larger than any dashboard form.")
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise FormRefused(415, "Dashboard forms are sent as application/x-www-form-urlencoded.")
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                body = b""
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_FORM_BYTES:
                        raise FormRefused(413, "That form was larger than any dashboard form.")
        except TimeoutError:
            raise FormRefused(408, "The form did not arrive in time; send it again.") from None
        return _parse_urlencoded(body)

    def check_origin(self, request: Request) -> None:
        if not same_origin(request.headers, request.headers.get("host", "")):
            raise FormRefused(403, _FORGED)

    async def session_form(self, visit: Visit) -> FormData:
        """A signed-in form: same origin and this session's CSRF token, or ``FormRefused``."""
        self.check_origin(visit.request)
        form = await self.read_form(visit.request)
        if not same_token(text(form, "csrf_token"), visit.session.csrf_token):
            raise FormRefused(403, _FORGED)
        return form

    async def anonymous_form(self, request: Request) -> FormData:
        """A form without a session yet: same origin and the double-submit cookie's token."""
        self.check_origin(request)
        form = await self.read_form(request)
        if not same_token(text(form, "csrf_token"), request.cookies.get(FORM_COOKIE)):
            raise FormRefused(
                403, "This form has expired or did not come from this dashboard: reload it."
            )
        return form

    @staticmethod
    def form_token(request: Request) -> str:
        """The anonymous forms' token: the browser's, or a new one."""
        current = request.cookies.get(FORM_COOKIE)
        return current if current and 16 <= len(current) <= 64 else new_form_token()


_FORGED = (
    "This form did not come from your dashboard session (a missing or wrong CSRF token), so "
    "nothing was changed. Reload the page and try again."
)


def _parse_urlencoded(body: bytes) -> FormData:
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=32, strict_parsing=False
        )
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(
            400, "That form could not be read; reload the page and try again."
        ) from None
    fields: list[tuple[str, str | UploadFile]] = list(pairs)
    return FormData(fields)


def text(form: FormData, name: str, limit: int = 1024) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""
