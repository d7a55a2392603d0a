"""Sign-up, sign-in, sign-out and one-time sign-in links."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from flexgrpc.dashboard.security import SESSION_COOKIE
from flexgrpc.dashboard.users import normalize_email
from flexgrpc.dashboard.web import FormRefused, Web, text
from flexgrpc.errors import FlexError


async def home(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    return web.redirect("/overview" if visit is not None else "/sign-in")


def _anonymous_page(
    web: Web, request: Request, template: str, *, status: int = 200, **context: object
) -> Response:
    token = web.form_token(request)
    values = {"csrf_token": token, "error": None, "email": "", "organization": "", **context}
    return web.render(request, template, values, status=status, form_token=token)


async def sign_up_page(web: Web, request: Request) -> Response:
    if not web.settings.sign_up:
        return web.refused(
            request, 404, "Sign-up is turned off on this server: ask its operator for an account."
        )
    return _anonymous_page(web, request, "sign_up.html")


async def sign_up(web: Web, request: Request) -> Response:
    if not web.settings.sign_up:
        return web.refused(
            request, 404, "Sign-up is turned off on this server: ask its operator for an account."
        )
    try:
        form = await web.anonymous_form(request)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    email, organization = text(form, "email", 300), text(form, "organization", 300)
    address = request.client.host if request.client else "unknown"
    try:
        # Sign-ups count against the address's limit too: each one costs an argon2 hash.
        web.address_limiter.check(address)
        web.address_limiter.record_failure(address)
        user = await asyncio.to_thread(
            web.users.sign_up, email, text(form, "password", 1000), organization
        )
    except FlexError as error:
        status = error.spec.http_status
        return _anonymous_page(
            web, request, "sign_up.html", status=status, error=error.message, email=email,
            organization=organization,
        )  # fmt: skip
    opened = await asyncio.to_thread(
        web.sessions.open, user.organization_id, user.id, request.cookies.get(SESSION_COOKIE)
    )
    response = web.redirect("/overview?done=signed-up")
    web.set_session_cookie(response, request, opened)
    return response


async def sign_in_page(web: Web, request: Request) -> Response:
    return _anonymous_page(web, request, "sign_in.html")


async def sign_in(web: Web, request: Request) -> Response:
    try:
        form = await web.anonymous_form(request)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    email = text(form, "email", 300)
    address = request.client.host if request.client else "unknown"
    try:
        account = normalize_email(email)
    except FlexError:
        account = email.strip().lower()
    try:
        web.address_limiter.check(address)
        web.account_limiter.check(account)
    except FlexError as error:
        return _anonymous_page(
            web, request, "sign_in.html", status=429, error=error.message, email=email
        )
    user = await asyncio.to_thread(web.users.check_password, email, text(form, "password", 1000))
    if user is None:
        web.address_limiter.record_failure(address)
        web.account_limiter.record_failure(account)
        return _anonymous_page(
            web, request, "sign_in.html", status=401,
            error="That email address and password do not match an account.", email=email,
        )  # fmt: skip
    opened = await asyncio.to_thread(
        web.sessions.open, user.organization_id, user.id, request.cookies.get(SESSION_COOKIE)
    )
    response = web.redirect("/overview")
    web.set_session_cookie(response, request, opened)
    return response


async def sign_out(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        response = web.to_sign_in()
        web.clear_session_cookie(response, request)
        return response
    try:
        await web.session_form(visit)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    await asyncio.to_thread(web.sessions.end, visit.token)
    response = web.redirect("/sign-in?done=signed-out")
    web.clear_session_cookie(response, request)
    return response


async def link_page(web: Web, request: Request) -> Response:
    return _anonymous_page(web, request, "sign_in_link.html", link=request.path_params["token"])


async def redeem_link(web: Web, request: Request) -> Response:
    try:
        await web.anonymous_form(request)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    opened = await asyncio.to_thread(
        web.sessions.redeem_link,
        str(request.path_params["token"]),
        request.cookies.get(SESSION_COOKIE),
    )
    if opened is None:
        return web.refused(
            request,
            404,
            "This sign-in link was already used or has expired: ask the operator for a new one "
            "(`flexgrpc dashboard sign-in-link ORG`).",
        )
    response = web.redirect("/overview")
    web.set_session_cookie(response, request, opened)
    return response
