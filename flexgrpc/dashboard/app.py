"""The dashboard's ASGI app: Starlette routes under ``/dashboard`` and the package's own
static assets (no file is fetched from elsewhere at run time, except Stripe.js from its
configured URL)."""

from __future__ import annotations

import functools
import logging
import pathlib
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexgrpc.dashboard import account_pages, billing_pages, key_pages, usage_pages
from flexgrpc.dashboard.web import PREFIX, Web

log = logging.getLogger("flexgrpc.dashboard")

Page = Callable[[Web, Request], Awaitable[Response]]
_STATIC = pathlib.Path(__file__).parent / "static"


class _Assets(StaticFiles):
    """Static files with the dashboard's headers (and a cache lifetime: they are versioned
    with the package)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(directory=_STATIC)
        self._extra = {**headers, "cache-control": "public, max-age=3600"}

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(self._extra)
        return response


def build_app(web: Web) -> ASGIApp:
    def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            return await handler(web, request)

        return endpoint

    table: list[tuple[str, Page, list[str]]] = [
        ("", account_pages.home, ["GET"]),
        ("/", account_pages.home, ["GET"]),
        ("/sign-up", account_pages.sign_up_page, ["GET"]),
        ("/sign-up", account_pages.sign_up, ["POST"]),
        ("/sign-in", account_pages.sign_in_page, ["GET"]),
        ("/sign-in", account_pages.sign_in, ["POST"]),
        ("/sign-out", account_pages.sign_out, ["POST"]),
        ("/link/{token}", account_pages.link_page, ["GET"]),
        ("/link/{token}", account_pages.redeem_link, ["POST"]),
        ("/overview", usage_pages.overview, ["GET"]),
        ("/overview.csv", usage_pages.overview_csv, ["GET"]),
        ("/usage/{request_id}", usage_pages.usage_record, ["GET"]),
        ("/billing", billing_pages.billing, ["GET"]),
        ("/billing/card/new", billing_pages.card_form, ["POST"]),
        ("/billing/card", billing_pages.save_card, ["POST"]),
        ("/api-keys", key_pages.api_keys, ["GET"]),
        ("/api-keys", key_pages.create_api_key, ["POST"]),
        ("/api-keys/{key_id}/revoke", key_pages.revoke_api_key, ["POST"]),
        ("/provider-keys", key_pages.provider_keys, ["GET"]),
        ("/provider-keys/{provider}", key_pages.set_provider_key, ["POST"]),
        ("/provider-keys/{provider}/delete", key_pages.delete_provider_key, ["POST"]),
        ("/settings", key_pages.settings, ["GET"]),
        ("/settings", key_pages.save_settings, ["POST"]),
    ]
    routes: list[Route | Mount] = [
        Route(PREFIX + path, page(handler), methods=methods) for path, handler, methods in table
    ]
    routes.append(Mount(PREFIX + "/static", app=_Assets(web.headers()), name="static"))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405:
            return web.refused(request, 405, "This page does not accept that method.")
        if status == 404:
            return web.refused(request, 404, "There is no such dashboard page.")
        return web.refused(request, status, "That request could not be served.")

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("dashboard request failed", exc_info=exc)
        return web.refused(
            request, 500, "The dashboard hit an unexpected error; it has been logged."
        )

    return ServerTiming(
        Starlette(
            routes=routes,
            exception_handlers={HTTPException: not_found, Exception: unexpected},
        )
    )


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` (the time to the response's start) to every answer,
    so that a page's own cost can be read apart from the network (bench/dashboard_pages.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, timed)
