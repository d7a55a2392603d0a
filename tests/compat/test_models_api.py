"""Model listing through the official SDKs (`models.list()` / `retrieve()`), the raw shapes,
and the typed ModelService over gRPC."""

from __future__ import annotations

from typing import Any

import anthropic
import grpc
import httpx
import openai
import pytest
from flexinference.v1 import models_pb2, models_pb2_grpc, types_pb2
from google import genai
from google.genai import errors as genai_errors

from tests.compat.conftest import Org, RestServer, new_org


def openai_client(rest: RestServer, org: Org) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{rest.url}/v1", api_key=org.api_key, max_retries=0)


def gemini_client(rest: RestServer, org: Org, version: str = "v1beta") -> genai.Client:
    options = {"base_url": rest.url, "api_version": version, "retry_options": {"attempts": 1}}
    return genai.Client(api_key=org.api_key, http_options=options)  # type: ignore[arg-type]


def test_openai_sdk_lists_every_reachable_model_with_its_flex_race(
    rest: RestServer, org: Org
) -> None:
    models = {m.id: m for m in openai_client(rest, org).models.list()}
    assert {"o3", "o4-mini", "gpt-4o", "gemini-2.5-pro", "claude-sonnet-4-5"} <= set(models)
    o3 = models["o3"]
    assert (o3.object, o3.owned_by) == ("model", "openai")
    block: dict[str, Any] = o3.model_extra["flexinference"]  # type: ignore[index]
    assert block["flex_race"] is True
    assert block["tiers"] == ["standard", "flex", "priority"]
    assert block["routes"] == ["openai"]
    assert {p["layer"] for p in block["prices"]} == {"genai-prices"}
    gpt4o = models["gpt-4o"].model_extra["flexinference"]  # type: ignore[index]
    assert gpt4o["flex_race"] is False
    assert models["gemini-3.5-flash"].model_extra["flexinference"]["flex_race"] is True  # type: ignore[index]
    assert models["claude-sonnet-4-5"].owned_by == "anthropic"
    # Listed ids are ones the router accepts, in order.
    assert list(models) == sorted(models)
    assert not any(":" in model or model.startswith("text-embedding") for model in models)


def test_openai_sdk_retrieves_one_model_and_404s_an_unknown_one(rest: RestServer, org: Org) -> None:
    client = openai_client(rest, org)
    model = client.models.retrieve("o4-mini")
    assert model.id == "o4-mini"
    assert model.model_extra["flexinference"]["flex_race"] is True  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-99-imaginary")
    assert "GET /v1/models" in caught.value.message


def test_only_the_providers_the_organization_has_a_key_for_are_listed(rest: RestServer) -> None:
    org = new_org(rest.store, "Only OpenAI", provider_keys=False)
    rest.store.set_provider_key(org.organization_id, "openai", "sk-test-" + "d" * 32)
    ids = {m.id for m in openai_client(rest, org).models.list()}
    assert "o3" in ids
    assert not any(i.startswith(("gemini-", "claude-")) for i in ids)
    with pytest.raises(openai.NotFoundError):
        openai_client(rest, org).models.retrieve("claude-sonnet-4-5")


def test_anthropic_sdk_lists_claude_models_in_pages(rest: RestServer, org: Org) -> None:
    client = anthropic.Anthropic(base_url=rest.url, api_key=org.api_key, max_retries=0)
    first = client.models.list(limit=3)
    assert len(first.data) == 3
    assert first.has_more
    assert all(m.type == "model" and m.id.startswith("claude-") for m in first.data)
    every = [m.id for m in client.models.list(limit=3)]  # the SDK follows after_id
    assert "claude-sonnet-4-5" in every
    assert every == sorted(set(every))
    model = client.models.retrieve("claude-haiku-4-5")
    assert (model.id, model.display_name) == ("claude-haiku-4-5", "claude-haiku-4-5")
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("o3")  # not a Claude model


def test_genai_sdk_lists_and_gets_gemini_models(rest: RestServer, org: Org) -> None:
    for version in ("v1beta", "v1"):
        client = gemini_client(rest, org, version)
        names = [m.name for m in client.models.list(config={"page_size": 10})]
        assert "models/gemini-2.5-pro" in names
        assert all(name is not None and name.startswith("models/gemini-") for name in names)
        assert len(names) > 10  # the pager followed nextPageToken
        model = client.models.get(model="gemini-3.5-flash")
        assert model.name == "models/gemini-3.5-flash"
        with pytest.raises(genai_errors.ClientError) as caught:
            client.models.get(model="gemini-0-imaginary")
        assert caught.value.code == 404


def test_the_gemini_shape_carries_the_flexinference_block(rest: RestServer, org: Org) -> None:
    answer = httpx.get(
        f"{rest.url}/v1beta/models/gemini-3.5-flash", headers={"x-goog-api-key": org.api_key}
    )
    assert answer.status_code == 200
    document = answer.json()
    assert document["name"] == "models/gemini-3.5-flash"
    assert document["flexinference"]["flex_race"] is True
    assert {p["tier"]: p["layer"] for p in document["flexinference"]["prices"]} == {
        "standard": "overlay",
        "flex": "overlay",
    }
    unknown = httpx.get(f"{rest.url}/v1beta/models/nope", headers={"x-goog-api-key": org.api_key})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == "NOT_FOUND"


def test_listing_needs_an_api_key(rest: RestServer) -> None:
    answer = httpx.get(f"{rest.url}/v1/models")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_api_key"


def test_typed_list_and_get_over_grpc(rest: RestServer, org: Org) -> None:
    metadata = (("authorization", f"Bearer {org.api_key}"),)
    with grpc.insecure_channel(rest.grpc_target) as channel:
        stub = models_pb2_grpc.ModelServiceStub(channel)
        page = stub.ListModels(
            models_pb2.ListModelsRequest(parent="organizations/-", page_size=5), metadata=metadata
        )
        assert len(page.models) == 5
        assert page.next_page_token
        names: list[str] = [m.model_id for m in page.models]
        while page.next_page_token:
            page = stub.ListModels(
                models_pb2.ListModelsRequest(
                    parent="organizations/-", page_size=200, page_token=page.next_page_token
                ),
                metadata=metadata,
            )
            names += [m.model_id for m in page.models]
        assert "o3" in names
        assert names == sorted(names)
        o3 = stub.GetModel(
            models_pb2.GetModelRequest(name="organizations/-/models/o3"), metadata=metadata
        )
        assert o3.name == f"organizations/{org.organization_id}/models/o3"
        assert o3.flex_race
        assert list(o3.routes) == [types_pb2.PROVIDER_ROUTE_OPENAI]
        assert models_pb2.PRICED_TIER_FLEX in o3.priced_tiers
        assert {s.layer for s in o3.price_sources} == {"genai-prices"}
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetModel(
                models_pb2.GetModelRequest(name="organizations/-/models/nope-1"), metadata=metadata
            )
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListModels(
                models_pb2.ListModelsRequest(parent="organizations/someone-else"),
                metadata=metadata,
            )
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
