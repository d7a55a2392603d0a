"""AccountService: a caller reads its own organization and API keys."""

from __future__ import annotations

import asyncio
from typing import Any

from flexinference.v1 import accounts_pb2, accounts_pb2_grpc

from flexgrpc.accounts.store import AccountStore, ApiKeyInfo
from flexgrpc.api.auth import current_principal
from flexgrpc.api.convert import timestamp
from flexgrpc.api.pagination import decode_token, encode_token, page_size, time_cursor
from flexgrpc.api.resources import organization_id
from flexgrpc.errors import FlexError


def _api_key(key: ApiKeyInfo) -> accounts_pb2.ApiKey:
    message = accounts_pb2.ApiKey(
        name=f"organizations/{key.organization_id}/apiKeys/{key.id}",
        display_prefix=key.display_prefix,
        create_time=timestamp(key.create_time),
    )
    if key.revoke_time is not None:
        message.revoke_time.CopyFrom(timestamp(key.revoke_time))
    return message


class AccountServicer(accounts_pb2_grpc.AccountServiceServicer):
    def __init__(self, store: AccountStore) -> None:
        self._store = store

    async def GetOrganization(
        self, request: accounts_pb2.GetOrganizationRequest, context: Any
    ) -> accounts_pb2.Organization:
        org_id = organization_id(request.name, current_principal(), field="name")
        org = await asyncio.to_thread(self._store.get_organization, org_id)
        if org is None:  # the key outlived its organization: treat as not found
            raise FlexError("not_found", f"organizations/{org_id} does not exist.")
        providers = await asyncio.to_thread(self._store.list_provider_keys, org_id)
        return accounts_pb2.Organization(
            name=f"organizations/{org.id}",
            display_name=org.display_name,
            provider_keys=sorted(providers),
            create_time=timestamp(org.create_time),
        )

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
