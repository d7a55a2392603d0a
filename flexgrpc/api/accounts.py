"""AccountService: a caller reads and manages its own organization, API keys and provider keys.

Mutations take an AIP-155 ``request_id`` (see ``flexgrpc.api.idempotency``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from flexinference.v1 import accounts_pb2, accounts_pb2_grpc
from google.protobuf import empty_pb2

from flexgrpc.accounts.limits import OrganizationLimits, check_limit, parse_on_exceed
from flexgrpc.accounts.store import AccountStore, ApiKeyInfo, ProviderKeyInfo
from flexgrpc.api.auth import current_principal
from flexgrpc.api.convert import timestamp
from flexgrpc.api.idempotency import idempotent
from flexgrpc.api.pagination import decode_token, encode_token, page_size, time_cursor
from flexgrpc.api.resources import ORGANIZATIONS, SELF, organization_id
from flexgrpc.billing.requests import RequestLog
from flexgrpc.db.models import PROVIDER_NAMES
from flexgrpc.errors import FlexError

_ON_EXCEED = "limits.flex_race_slots_on_exceed"
#: The operator's limits: they protect the service and the other organizations, so only an
#: operator changes them. How a race beyond the slots is treated (refused, or served on
#: standard) concerns the organization alone, so it chooses that itself.
_OPERATOR_LIMITS = (
    "limits.requests_per_minute",
    "limits.request_burst",
    "limits.flex_race_slots",
)
#: Fields of Organization that UpdateOrganization changes for an organization's own key.
_UPDATABLE = frozenset({"display_name", _ON_EXCEED})
#: ... and for an operator's (``limits`` names all four limits).
_OPERATOR_UPDATABLE = _UPDATABLE | frozenset({*_OPERATOR_LIMITS, "limits"})
_SCOPE = "AccountService."


def _limits_message(limits: OrganizationLimits) -> accounts_pb2.OrganizationLimits:
    return accounts_pb2.OrganizationLimits(
        requests_per_minute=limits.requests_per_minute,
        request_burst=limits.request_burst,
        flex_race_slots=limits.flex_race_slots,
        flex_race_slots_on_exceed=limits.on_exceed.value,
    )


def updated_limits(
    current: OrganizationLimits, paths: set[str], wanted: accounts_pb2.OrganizationLimits
) -> OrganizationLimits:
    """``current`` with the fields ``paths`` name taken from ``wanted``."""
    every = "limits" in paths

    def pick(name: str, old: int) -> int:
        if every or f"limits.{name}" in paths:
            return check_limit(name, getattr(wanted, name))
        return old

    on_exceed = current.on_exceed
    if every or _ON_EXCEED in paths:
        on_exceed = parse_on_exceed(wanted.flex_race_slots_on_exceed or "refuse")
    return OrganizationLimits(
        requests_per_minute=pick("requests_per_minute", current.requests_per_minute),
        request_burst=pick("request_burst", current.request_burst),
        flex_race_slots=pick("flex_race_slots", current.flex_race_slots),
        on_exceed=on_exceed,
    )


def _api_key(key: ApiKeyInfo) -> accounts_pb2.ApiKey:
    message = accounts_pb2.ApiKey(
        name=f"organizations/{key.organization_id}/apiKeys/{key.id}",
        display_prefix=key.display_prefix,
        create_time=timestamp(key.create_time),
    )
    if key.revoke_time is not None:
        message.revoke_time.CopyFrom(timestamp(key.revoke_time))
    return message


def _provider_key(key: ProviderKeyInfo) -> accounts_pb2.ProviderKey:
    return accounts_pb2.ProviderKey(
        name=f"organizations/{key.organization_id}/providerKeys/{key.provider}",
        provider=key.provider,
        fingerprint=key.fingerprint,
        update_time=timestamp(key.update_time),
    )


def _child(name: str, collection: str, field: str) -> tuple[str, str]:
    """(``organizations/{org}``, id) of ``organizations/{org}/<collection>/{id}``."""
    parent, sep, child = name.partition(f"/{collection}/")
    if not sep or not child or "/" in child:
        raise FlexError(
            "invalid_argument",
            f"{field} must be `organizations/{{organization}}/{collection}/{{id}}` "
            f"(e.g. `organizations/-/{collection}/…`), got {name[:120]!r}.",
            field=field,
        )
    return parent, child


def _provider(name: str) -> tuple[str, str]:
    parent, provider = _child(name, "providerKeys", "name")
    org = organization_id(parent, current_principal(), field="name")
    if provider not in PROVIDER_NAMES:
        raise FlexError(
            "invalid_argument",
            f"unknown provider {provider[:40]!r} in name: provider keys exist for "
            f"{', '.join(PROVIDER_NAMES)}, e.g. `organizations/-/providerKeys/openai`.",
            field="name",
        )
    return org, provider


class AccountServicer(accounts_pb2_grpc.AccountServiceServicer):
    def __init__(
        self, store: AccountStore, requests: RequestLog, *, operators: frozenset[str] = frozenset()
    ) -> None:
        self._store = store
        self._requests = requests
        #: Organizations whose keys act as operators (the billing operator setting).
        self._operators = operators

    def _is_operator(self) -> bool:
        return current_principal().organization_id in self._operators

    def _named(self, name: str, field: str) -> str:
        """The organization ``name`` names: the caller's own, or any for an operator."""
        named = name.removeprefix(ORGANIZATIONS)
        if (
            self._is_operator()
            and name.startswith(ORGANIZATIONS)
            and named not in ("", SELF)
            and "/" not in named
        ):
            return named
        return organization_id(name, current_principal(), field=field)

    def _check_mask(self, paths: list[str]) -> None:
        operator = self._is_operator()
        allowed = _OPERATOR_UPDATABLE if operator else _UPDATABLE
        unknown = [p for p in paths if p not in _OPERATOR_UPDATABLE]
        operator_limits = ", ".join(f"`{p}`" for p in _OPERATOR_LIMITS)
        if not paths or unknown:
            raise FlexError(
                "invalid_argument",
                "update_mask must name the fields to change: `display_name`, "
                f"`{_ON_EXCEED}` and, for operators, {operator_limits}"
                " (or `limits` for all four), e.g. updateMask=displayName"
                + (f"; not {', '.join(repr(p[:40]) for p in unknown)}." if unknown else "."),
                field="update_mask",
            )
        refused = [p for p in paths if p not in allowed]
        if refused:
            raise FlexError(
                "permission_denied",
                f"Only an operator changes {', '.join(refused)}: the request rate and the flex "
                "race slots protect the service for every organization. Ask your operator "
                f"(`flexgrpc org limits ORG …`); this key may change `display_name` and "
                f"`{_ON_EXCEED}`.",
                field="update_mask",
            )

    async def _organization(self, org_id: str) -> accounts_pb2.Organization:
        org = await asyncio.to_thread(self._store.get_organization, org_id)
        if org is None:  # the key outlived its organization: treat as not found
            raise FlexError("not_found", f"organizations/{org_id} does not exist.")
        providers = await asyncio.to_thread(self._store.list_provider_keys, org_id)
        return accounts_pb2.Organization(
            name=f"organizations/{org.id}",
            display_name=org.display_name,
            provider_keys=sorted(providers),
            create_time=timestamp(org.create_time),
            limits=_limits_message(org.limits),
        )

    async def GetOrganization(
        self, request: accounts_pb2.GetOrganizationRequest, context: Any
    ) -> accounts_pb2.Organization:
        return await self._organization(self._named(request.name, "name"))

    async def UpdateOrganization(
        self, request: accounts_pb2.UpdateOrganizationRequest, context: Any
    ) -> accounts_pb2.Organization:
        org = self._named(request.organization.name, "organization.name")
        paths = list(request.update_mask.paths)
        self._check_mask(paths)

        async def produce() -> tuple[accounts_pb2.Organization, accounts_pb2.Organization]:
            limits = None
            if any(p == "limits" or p.startswith("limits.") for p in paths):
                # Checked before anything is written, so that a bad limit renames nothing.
                limits = await asyncio.to_thread(self._updated_limits, org, set(paths), request)
            if "display_name" in paths:
                await asyncio.to_thread(
                    self._store.rename_organization, org, request.organization.display_name
                )
            if limits is not None:
                await asyncio.to_thread(self._store.set_limits, org, limits)
            answer = await self._organization(org)
            return answer, answer

        return await idempotent(
            self._requests,
            org,
            _SCOPE + "UpdateOrganization",
            request.request_id,
            accounts_pb2.Organization.FromString,
            produce,
        )

    def _updated_limits(
        self, org: str, paths: set[str], request: accounts_pb2.UpdateOrganizationRequest
    ) -> OrganizationLimits:
        current = self._store.get_organization(org)
        if current is None:
            raise FlexError("not_found", f"organizations/{org} does not exist.")
        return updated_limits(current.limits, paths, request.organization.limits)

    async def ListApiKeys(
        self, request: accounts_pb2.ListApiKeysRequest, context: Any
    ) -> accounts_pb2.ListApiKeysResponse:
        org_id = organization_id(request.parent, current_principal(), field="parent")
        size = page_size(request.page_size)
        arguments = {"parent": org_id}
        cursor = decode_token(request.page_token, arguments)
        keys = await asyncio.to_thread(self._store.list_api_keys, org_id)
        ordered = sorted(keys, key=lambda k: (k.create_time, k.id), reverse=True)
        after = time_cursor(cursor)
        if after is not None:
            ordered = [k for k in ordered if (k.create_time, k.id) < after]
        page = ordered[:size]
        token = ""
        if len(ordered) > size:
            last = page[-1]
            token = encode_token([last.create_time.isoformat(), last.id], arguments)
        return accounts_pb2.ListApiKeysResponse(
            api_keys=[_api_key(k) for k in page], next_page_token=token
        )

    async def CreateApiKey(
        self, request: accounts_pb2.CreateApiKeyRequest, context: Any
    ) -> accounts_pb2.CreateApiKeyResponse:
        org = organization_id(request.parent, current_principal(), field="parent")

        async def produce() -> tuple[
            accounts_pb2.CreateApiKeyResponse, accounts_pb2.CreateApiKeyResponse
        ]:
            info, secret = await asyncio.to_thread(self._store.create_api_key, org)
            key = _api_key(info)
            # The stored answer never holds the secret: keys are kept only as hashes.
            return (
                accounts_pb2.CreateApiKeyResponse(api_key=key, secret=secret),
                accounts_pb2.CreateApiKeyResponse(api_key=key),
            )

        return await idempotent(
            self._requests,
            org,
            _SCOPE + "CreateApiKey",
            request.request_id,
            accounts_pb2.CreateApiKeyResponse.FromString,
            produce,
        )

    async def RevokeApiKey(
        self, request: accounts_pb2.RevokeApiKeyRequest, context: Any
    ) -> accounts_pb2.ApiKey:
        parent, key_id = _child(request.name, "apiKeys", "name")
        org = organization_id(parent, current_principal(), field="name")

        async def produce() -> tuple[accounts_pb2.ApiKey, accounts_pb2.ApiKey]:
            try:
                info = await asyncio.to_thread(
                    self._store.revoke_api_key, key_id, organization_id=org
                )
            except FlexError as error:
                if error.code != "not_found":
                    raise
                raise FlexError(
                    "not_found", f"{request.name[:120]} does not exist.", field="name"
                ) from None
            answer = _api_key(info)
            return answer, answer

        return await idempotent(
            self._requests,
            org,
            _SCOPE + "RevokeApiKey",
            request.request_id,
            accounts_pb2.ApiKey.FromString,
            produce,
        )

    async def ListProviderKeys(
        self, request: accounts_pb2.ListProviderKeysRequest, context: Any
    ) -> accounts_pb2.ListProviderKeysResponse:
        org = organization_id(request.parent, current_principal(), field="parent")
        keys = await asyncio.to_thread(self._store.describe_provider_keys, org)
        return accounts_pb2.ListProviderKeysResponse(provider_keys=[_provider_key(k) for k in keys])

    async def SetProviderKey(
        self, request: accounts_pb2.SetProviderKeyRequest, context: Any
    ) -> accounts_pb2.ProviderKey:
        org, provider = _provider(request.name)

        async def produce() -> tuple[accounts_pb2.ProviderKey, accounts_pb2.ProviderKey]:
            info = await asyncio.to_thread(
                self._store.set_provider_key, org, provider, request.secret
            )
            answer = _provider_key(info)
            return answer, answer

        return await idempotent(
            self._requests,
            org,
            _SCOPE + "SetProviderKey",
            request.request_id,
            accounts_pb2.ProviderKey.FromString,
            produce,
        )

    async def DeleteProviderKey(
        self, request: accounts_pb2.DeleteProviderKeyRequest, context: Any
    ) -> empty_pb2.Empty:
        org, provider = _provider(request.name)

        async def produce() -> tuple[empty_pb2.Empty, empty_pb2.Empty]:
            deleted = await asyncio.to_thread(self._store.delete_provider_key, org, provider)
            if not deleted:
                raise FlexError(
                    "not_found",
                    f"organizations/-/providerKeys/{provider} does not exist: there is no "
                    f"{provider} key on file.",
                    field="name",
                )
            return empty_pb2.Empty(), empty_pb2.Empty()

        return await idempotent(
            self._requests,
            org,
            _SCOPE + "DeleteProviderKey",
            request.request_id,
            empty_pb2.Empty.FromString,
            produce,
        )
