"""The OpenAPI description: valid OpenAPI 3.1, one operation per route of the table the shim
serves, served unauthenticated on the REST port, and the checked-in copy is the served one."""

from __future__ import annotations

import json
import pathlib

import httpx
from google.protobuf import descriptor_pool
from openapi_spec_validator import validate

from flexgrpc.rest.openapi import describe, render
from flexgrpc.rest.routes import RouteTable
from flexgrpc.server import PUBLIC_METHODS, SERVICE_NAMES
from tests.compat.conftest import RestServer

CHECKED_IN = pathlib.Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
_METHODS = ("get", "put", "post", "delete", "patch")


def _table() -> RouteTable:
    pool = descriptor_pool.Default()
    return RouteTable.from_services(pool.FindServiceByName(name) for name in SERVICE_NAMES)


def _operations(document: dict) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    return {
        (method.upper(), operation["x-flexinference-template"]): operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in _METHODS and "x-flexinference-template" in operation
    }


def test_the_description_is_valid_openapi_3_1_with_every_route() -> None:
    table = _table()
    document = describe(table, PUBLIC_METHODS)
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"].startswith("3.1")
    operations = _operations(document)
    assert set(operations) == {(r.http_method, r.template.source) for r in table.routes}
    for route in table.routes:
        operation = operations[(route.http_method, route.template.source)]
        assert operation["x-flexinference-rpc"] == route.grpc_path
        assert "200" in operation["responses"]
        assert "401" in operation["responses"]


def test_typed_bodies_follow_the_proto3_json_mapping() -> None:
    document = describe(_table(), PUBLIC_METHODS)
    schemas = document["components"]["schemas"]
    org = schemas["flexinference.v1.Organization"]["properties"]
    assert (org["createTime"]["type"], org["createTime"]["format"]) == ("string", "date-time")
    assert "displayName" in org
    assert "display_name" not in org
    balance = schemas["flexinference.v1.BillingAccount"]["properties"]
    assert balance["accruedThisPeriodMicroUsd"]["type"] == "string"  # int64: a string in JSON
    record = schemas["flexinference.v1.UsageRecord"]["properties"]
    enums = [p for p in record.values() if "enum" in p]
    assert enums
    assert all(p["type"] == "string" for p in enums)


def test_surfaces_describe_the_router_fields_and_their_envelopes() -> None:
    document = describe(_table(), PUBLIC_METHODS)
    dialects = {
        "/v1/chat/completions": "OpenAIError",
        "/v1/messages": "AnthropicError",
        "/v1/interactions": "GoogleError",
    }
    for path, envelope in dialects.items():
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert {"start_within", "provider", "retry", "include_cost"} <= set(body["properties"])
        assert body["additionalProperties"] is True  # the provider's fields pass through
        error = operation["responses"]["400"]["content"]["application/json"]["schema"]
        assert error["$ref"].endswith("/" + envelope)
        assert "text/event-stream" in operation["responses"]["200"]["content"]
    webhook = document["paths"]["/v1/webhooks/stripe"]["post"]
    assert webhook["security"] == []  # signed by Stripe, no API key
    schemes = document["components"]["securitySchemes"]
    assert {s.get("name") for s in schemes.values()} >= {"x-api-key", "x-goog-api-key"}


def test_the_checked_in_copy_is_current() -> None:
    # `make gen` writes it; `check-gen` fails when it is stale. This says which way to fix it.
    want = render(describe(_table(), PUBLIC_METHODS))
    assert CHECKED_IN.read_bytes() == want, "docs/openapi.json is stale: run `make gen`"


def test_served_without_a_key_on_the_rest_port(rest: RestServer) -> None:
    answer = httpx.get(f"{rest.url}/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.content == CHECKED_IN.read_bytes()
    assert json.loads(answer.content)["paths"]["/v1/route"]["post"]["operationId"]
