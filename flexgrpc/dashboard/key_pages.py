"""API keys and provider keys, and the organization's settings, over AccountService."""

from __future__ import annotations

from flexinference.v1 import accounts_pb2
from google.protobuf import empty_pb2, field_mask_pb2
from starlette.requests import Request
from starlette.responses import Response

from flexgrpc.dashboard.rpc import RpcFailure
from flexgrpc.dashboard.web import FormRefused, Visit, Web, text
from flexgrpc.db.models import PROVIDER_NAMES

PROVIDER_LABELS = {"openai": "OpenAI", "gemini": "Google Gemini", "anthropic": "Anthropic"}
DONE = {
    "key-revoked": "The API key is revoked: requests with it are refused within a second.",
    "provider-key-saved": "The provider key is saved (encrypted; it is never shown again).",
    "provider-key-deleted": "The provider key is deleted.",
    "settings-saved": "Saved.",
}


async def _api_keys_page(
    web: Web, visit: Visit, *, created: accounts_pb2.CreateApiKeyResponse | None = None
) -> Response:
    context = await web.chrome(visit, "api-keys")
    token = visit.request.query_params.get("page", "")[:512]
    keys = await web.call(
        visit,
        "AccountService/ListApiKeys",
        accounts_pb2.ListApiKeysRequest(parent="organizations/-", page_size=50, page_token=token),
        accounts_pb2.ListApiKeysResponse,
    )
    context.update(
        keys=list(keys.api_keys),
        next_page=keys.next_page_token,
        created=created,
        done=DONE.get(visit.request.query_params.get("done", "")),
    )
    return web.render(visit.request, "api_keys.html", context)


async def api_keys(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        return await _api_keys_page(web, visit)
    except RpcFailure as failure:
        return web.failed(visit, failure)


async def create_api_key(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        form = await web.session_form(visit)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    try:
        created = await web.call(
            visit,
            "AccountService/CreateApiKey",
            accounts_pb2.CreateApiKeyRequest(
                parent="organizations/-",
                request_id=text(form, "request_id", 64),
                # Checked by the RPC, as the body's start_within is; empty: no default.
                default_start_within=text(form, "default_start_within", 32).strip(),
            ),
            accounts_pb2.CreateApiKeyResponse,
        )
        # Shown in this answer only: no redirect, so the secret is never in a URL or history.
        return await _api_keys_page(web, visit, created=created)
    except RpcFailure as failure:
        return web.failed(visit, failure)


async def revoke_api_key(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        form = await web.session_form(visit)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    key_id = str(request.path_params["key_id"])[:64]
    try:
        await web.call(
            visit,
            "AccountService/RevokeApiKey",
            accounts_pb2.RevokeApiKeyRequest(
                name=f"organizations/-/apiKeys/{key_id}", request_id=text(form, "request_id", 64)
            ),
            accounts_pb2.ApiKey,
        )
    except RpcFailure as failure:
        return web.failed(visit, failure)
    return web.redirect("/api-keys?done=key-revoked")


async def provider_keys(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        context = await web.chrome(visit, "provider-keys")
        listed = await web.call(
            visit,
            "AccountService/ListProviderKeys",
            accounts_pb2.ListProviderKeysRequest(parent="organizations/-"),
            accounts_pb2.ListProviderKeysResponse,
        )
    except RpcFailure as failure:
        return web.failed(visit, failure)
    on_file = {k.provider: k for k in listed.provider_keys}
    context.update(
        providers=[(p, PROVIDER_LABELS[p], on_file.get(p)) for p in PROVIDER_NAMES],
        done=DONE.get(request.query_params.get("done", "")),
    )
    return web.render(request, "provider_keys.html", context)


def _provider(request: Request) -> str | None:
    provider = str(request.path_params["provider"])
    return provider if provider in PROVIDER_NAMES else None


async def set_provider_key(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        form = await web.session_form(visit)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    provider = _provider(request)
    if provider is None:
        return web.refused(request, 404, "There is no such provider.")
    try:
        await web.call(
            visit,
            "AccountService/SetProviderKey",
            accounts_pb2.SetProviderKeyRequest(
                name=f"organizations/-/providerKeys/{provider}",
                secret=text(form, "secret", 2048),
                request_id=text(form, "request_id", 64),
            ),
            accounts_pb2.ProviderKey,
        )
    except RpcFailure as failure:
        return web.failed(visit, failure)
    return web.redirect("/provider-keys?done=provider-key-saved")


async def delete_provider_key(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        form = await web.session_form(visit)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    provider = _provider(request)
    if provider is None:
        return web.refused(request, 404, "There is no such provider.")
    try:
        await web.call(
            visit,
            "AccountService/DeleteProviderKey",
            accounts_pb2.DeleteProviderKeyRequest(
                name=f"organizations/-/providerKeys/{provider}",
                request_id=text(form, "request_id", 64),
            ),
            empty_pb2.Empty,
        )
    except RpcFailure as failure:
        return web.failed(visit, failure)
    return web.redirect("/provider-keys?done=provider-key-deleted")


async def settings(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        context = await web.chrome(visit, "settings")
    except RpcFailure as failure:
        return web.failed(visit, failure)
    context.update(done=DONE.get(request.query_params.get("done", "")), error=None)
    return web.render(request, "settings.html", context)


async def save_settings(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        form = await web.session_form(visit)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    try:
        await web.call(
            visit,
            "AccountService/UpdateOrganization",
            accounts_pb2.UpdateOrganizationRequest(
                organization=accounts_pb2.Organization(
                    name="organizations/-", display_name=text(form, "display_name", 300)
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                request_id=text(form, "request_id", 64),
            ),
            accounts_pb2.Organization,
        )
    except RpcFailure as failure:
        if failure.http_status != 400:
            return web.failed(visit, failure)
        context = await web.chrome(visit, "settings")
        context.update(done=None, error=failure.message)
        return web.render(request, "settings.html", context, status=400)
    return web.redirect("/settings?done=settings-saved")
