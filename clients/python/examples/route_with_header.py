"""Typed example client: a flex race whose start_within travels as gRPC metadata.

    FLEXGRPC_API_KEY=flex_live_… python route_with_header.py [host:port]

The body carries no router field: ``x-flexinference-start-within`` (the same grammar as the
body's ``start_within``) asks for the race, and the answer's initial metadata says which tier
served and where its start_within came from. Type-checks under `mypy --strict`.
"""

from __future__ import annotations

import json
import os
import sys

import grpc
from flexinference.v1 import route_pb2, route_pb2_grpc, types_pb2
from google.api import httpbody_pb2


def route(target: str, api_key: str) -> tuple[str, str, int]:
    """(served tier, start_within source, output tokens) of one Chat Completions request."""
    with grpc.insecure_channel(target) as channel:
        stub = route_pb2_grpc.RouteServiceStub(channel)
        body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
        request = route_pb2.RouteRequest(
            model="gpt-5-mini",
            surface=types_pb2.SURFACE_CHAT_COMPLETIONS,
            body=httpbody_pb2.HttpBody(content_type="application/json", data=body),
        )
        metadata = (
            ("authorization", f"Bearer {api_key}"),
            ("x-flexinference-start-within", "00h-00m-30s"),
        )
        response, call = stub.Route.with_call(request, metadata=metadata, timeout=60.0)
        initial = {key: str(value) for key, value in call.initial_metadata()}
        tier = types_pb2.ServedTier.Name(response.result.served_tier)
        source = initial.get("x-flexinference-start-within-source", "")
        return tier, source, response.result.tokens.output_tokens


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    tier, source, output_tokens = route(target, os.environ["FLEXGRPC_API_KEY"])
    print(f"served by {tier} (start_within from the {source}), {output_tokens} output tokens")


if __name__ == "__main__":
    main()
