"""Typed example client: which organization does this API key belong to?

    FLEXGRPC_API_KEY=flex_live_… python whoami.py [host:port]

Type-checks under `mypy --strict` against the generated stubs (sync and asyncio shown).
"""

from __future__ import annotations

import asyncio
import os
import sys

import grpc
from flexinference.v1 import accounts_pb2, accounts_pb2_grpc


def whoami_sync(target: str, api_key: str) -> accounts_pb2.Organization:
    with grpc.insecure_channel(target) as channel:
        stub = accounts_pb2_grpc.AccountServiceStub(channel)
        request = accounts_pb2.GetOrganizationRequest(name="organizations/-")
        response: accounts_pb2.Organization = stub.GetOrganization(
            request, metadata=(("authorization", f"Bearer {api_key}"),), timeout=5.0
        )
        return response


async def list_keys_async(target: str, api_key: str) -> list[str]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = accounts_pb2_grpc.AccountServiceStub(channel)
        request = accounts_pb2.ListApiKeysRequest(parent="organizations/-", page_size=10)
        response = await stub.ListApiKeys(
            request, metadata=(("authorization", f"Bearer {api_key}"),), timeout=5.0
        )
        return [key.name for key in response.api_keys]


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    api_key = os.environ["FLEXGRPC_API_KEY"]
    org = whoami_sync(target, api_key)
    print(org.name, org.display_name)
    for name in asyncio.run(list_keys_async(target, api_key)):
        print(name)


if __name__ == "__main__":
    main()
