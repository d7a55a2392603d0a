"""``start_within`` without a body field: the header (gRPC metadata) and an API key's default.

Precedence is body or typed field > ``x-flexinference-start-within`` > the key's default; every
answer says which applied (``x-flexinference-start-within-source``) and how many times the
router re-sent the request (``x-flexinference-retries``). Driven through the official SDKs, the
REST shim and gRPC, against the simulator.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import grpc
import httpx
import openai
import pytest
from flexinference.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    route_pb2,
    route_pb2_grpc,
    types_pb2,
)
from google import genai
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2

from flexgrpc.sim import SimConfig, SimulatorThread
from tests.compat.conftest import (
    CLAUDE_MODEL,
    GEMINI_MODEL,
    OPENAI_MODEL,
    WINDOW,
    Org,
    RestServer,
    new_org,
)

HI = [{"role": "user", "content": "hi"}]
HEADER = "x-flexinference-start-within"
SOURCE = "x-flexinference-start-within-source"
RETRIES = "x-flexinference-retries"
#: "00h-00m-30s" with Arabic-Indic digits for the seconds, as UTF-8 bytes.
ARABIC_30S = "00h-00m-\u0663\u0660s".encode()


def openai_client(rest: RestServer, api_key: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{rest.url}/v1",
        api_key=api_key,
        max_retries=0,
        timeout=60,
        default_headers=headers or None,
    )


def keyed_org(rest: RestServer, default_start_within: str) -> Org:
    """An organization whose API key carries a default start_within."""
    org = new_org(rest.store)
    _, api_key = rest.store.create_api_key(
        org.organization_id, default_start_within=default_start_within
    )
    return Org(org.organization_id, api_key)


@pytest.fixture
def http(rest: RestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rest.url, timeout=60) as client:
        yield client


def test_the_header_races_flex_for_a_client_that_cannot_add_a_body_field(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    client = openai_client(rest, org.api_key, **{HEADER: WINDOW})
    raw = client.chat.completions.with_raw_response.create(model=OPENAI_MODEL, messages=HI)
    assert raw.parse().service_tier == "flex"
    assert raw.headers["x-flexinference-tier"] == "flex"
    assert raw.headers[SOURCE] == "header"
    assert raw.headers[RETRIES] == "0"
    (seen,) = sim.records
    assert seen.service_tier == "flex"


def test_the_body_field_wins_over_the_header(rest: RestServer, org: Org) -> None:
    client = openai_client(rest, org.api_key, **{HEADER: WINDOW})
    raw = client.chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=HI, extra_body={"start_within": "default"}
    )
    assert raw.parse().service_tier == "default"
    assert raw.headers[SOURCE] == "body"


def test_a_key_default_applies_when_the_request_names_none(rest: RestServer) -> None:
    org = keyed_org(rest, WINDOW)
    raw = openai_client(rest, org.api_key).chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=HI
    )
    assert raw.parse().service_tier == "flex"
    assert raw.headers[SOURCE] == "key_default"


def test_the_header_wins_over_the_key_default(rest: RestServer) -> None:
    org = keyed_org(rest, WINDOW)
    client = openai_client(rest, org.api_key, **{HEADER: "default"})
    raw = client.chat.completions.with_raw_response.create(model=OPENAI_MODEL, messages=HI)
    assert raw.parse().service_tier == "default"
    assert raw.headers[SOURCE] == "header"


def test_the_anthropic_sdk_sends_the_header_as_a_default_header(rest: RestServer, org: Org) -> None:
    client = anthropic.Anthropic(
        base_url=rest.url,
        api_key=org.api_key,
        max_retries=0,
        default_headers={HEADER: "default"},
    )
    raw = client.messages.with_raw_response.create(model=CLAUDE_MODEL, max_tokens=64, messages=HI)
    assert raw.parse().content
    assert raw.headers[SOURCE] == "header"


def test_without_any_start_within_the_request_is_refused_as_before(
    rest: RestServer, org: Org
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(rest, org.api_key).chat.completions.create(model=OPENAI_MODEL, messages=HI)
    assert caught.value.code == "missing_start_within"
    assert HEADER in caught.value.message


@pytest.mark.parametrize("body", [{}, {"start_within": "default"}])
def test_a_malformed_header_is_refused_naming_the_header(
    rest: RestServer, org: Org, body: dict[str, Any]
) -> None:
    client = openai_client(rest, org.api_key, **{HEADER: "30s"})
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=OPENAI_MODEL, messages=HI, extra_body=body)
    assert caught.value.code == "invalid_start_within"
    assert caught.value.param == HEADER
    assert f"the {HEADER} header" in caught.value.message


def test_a_header_that_is_not_ascii_is_refused_not_ignored(http: httpx.Client, org: Org) -> None:
    answer = http.post(
        "/v1/chat/completions",
        json={"model": OPENAI_MODEL, "messages": HI},
        headers={"authorization": f"Bearer {org.api_key}", HEADER: ARABIC_30S},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_start_within"


def test_the_typed_rest_route_takes_the_header(http: httpx.Client, org: Org) -> None:
    data = json.dumps({"messages": HI}).encode()
    answer = http.post(
        "/v1/route",
        json={
            "model": OPENAI_MODEL,
            "surface": "SURFACE_CHAT_COMPLETIONS",
            "body": {"contentType": "application/json", "data": base64.b64encode(data).decode()},
        },
        headers={"authorization": f"Bearer {org.api_key}", HEADER: WINDOW},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["servedTier"] == "SERVED_TIER_FLEX"
    assert answer.headers[SOURCE] == "header"


def test_retries_count_the_re_sends_of_the_settled_tier(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", error_rate=0.6)
    raw = openai_client(rest, org.api_key).chat.completions.with_raw_response.create(
        model=OPENAI_MODEL,
        messages=HI,
        extra_body={"start_within": "default", "retry": {"count": 5, "jitter": False}},
    )
    assert raw.parse().service_tier == "default"
    sent = len(sim.records)
    assert sent > 1, "the seed should make the first try fail"
    assert raw.headers[RETRIES] == str(sent - 1)
    listed = httpx.get(
        f"{rest.url}/v1/organizations/-/usageRecords",
        headers={"authorization": f"Bearer {org.api_key}"},
    ).json()["usageRecords"]
    assert listed[0]["retries"] == sent - 1
    assert listed[0]["startWithinSource"] == "START_WITHIN_SOURCE_BODY"


def test_the_usage_record_says_where_start_within_came_from(rest: RestServer, org: Org) -> None:
    client = openai_client(rest, org.api_key, **{HEADER: "default"})
    client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
    listed = httpx.get(
        f"{rest.url}/v1/organizations/-/usageRecords",
        headers={"authorization": f"Bearer {org.api_key}"},
    ).json()["usageRecords"]
    assert [r["startWithinSource"] for r in listed] == ["START_WITHIN_SOURCE_HEADER"]


# ---- gRPC ---------------------------------------------------------------------------------


@pytest.fixture
def channel(rest: RestServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(rest.grpc_target) as chan:
        yield chan


def _metadata(org: Org, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {org.api_key}"), *extra)


def test_grpc_metadata_carries_start_within_to_a_surface(channel: grpc.Channel, org: Org) -> None:
    stub = route_pb2_grpc.RouteServiceStub(channel)
    body = json.dumps({"model": OPENAI_MODEL, "input": "hi"}).encode()
    call = stub.CreateResponse(
        route_pb2.CreateResponseRequest(
            body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
        ),
        metadata=_metadata(org, (HEADER, WINDOW)),
        timeout=60,
    )
    answer = json.loads(b"".join(m.data for m in call))
    assert answer["service_tier"] == "flex"
    initial = dict(call.initial_metadata())
    assert (initial[SOURCE], initial[RETRIES]) == ("header", "0")


def test_grpc_typed_routing_wins_over_the_metadata(channel: grpc.Channel, org: Org) -> None:
    stub = route_pb2_grpc.RouteServiceStub(channel)
    response, call = stub.Route.with_call(
        route_pb2.RouteRequest(
            model=OPENAI_MODEL,
            surface=types_pb2.SURFACE_CHAT_COMPLETIONS,
            body=httpbody_pb2.HttpBody(
                content_type="application/json", data=json.dumps({"messages": HI}).encode()
            ),
            routing=types_pb2.RoutingControls(tier=types_pb2.START_TIER_DEFAULT),
        ),
        metadata=_metadata(org, (HEADER, WINDOW)),
        timeout=60,
    )
    assert response.result.served_tier == types_pb2.SERVED_TIER_STANDARD
    assert dict(call.initial_metadata())[SOURCE] == "body"


def test_grpc_typed_route_without_routing_uses_the_key_default(
    channel: grpc.Channel, rest: RestServer
) -> None:
    org = keyed_org(rest, "default")
    stub = route_pb2_grpc.RouteServiceStub(channel)
    response, call = stub.Route.with_call(
        route_pb2.RouteRequest(
            model=OPENAI_MODEL,
            surface=types_pb2.SURFACE_CHAT_COMPLETIONS,
            body=httpbody_pb2.HttpBody(
                content_type="application/json", data=json.dumps({"messages": HI}).encode()
            ),
        ),
        metadata=_metadata(org),
        timeout=60,
    )
    assert response.result.served_tier == types_pb2.SERVED_TIER_STANDARD
    assert dict(call.initial_metadata())[SOURCE] == "key_default"


# ---- the key's default, managed --------------------------------------------------------------


def test_a_key_is_created_with_a_default_and_listings_show_it(
    channel: grpc.Channel, org: Org
) -> None:
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    created = stub.CreateApiKey(
        accounts_pb2.CreateApiKeyRequest(parent="organizations/-", default_start_within=WINDOW),
        metadata=_metadata(org),
    )
    assert created.api_key.default_start_within == WINDOW
    listed = stub.ListApiKeys(
        accounts_pb2.ListApiKeysRequest(parent="organizations/-"), metadata=_metadata(org)
    )
    defaults = {k.name: k.default_start_within for k in listed.api_keys}
    assert defaults[created.api_key.name] == WINDOW
    assert sorted(defaults.values()) == ["", WINDOW]  # the fixture's key has none


def test_an_invalid_default_is_refused_at_creation(channel: grpc.Channel, org: Org) -> None:
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateApiKey(
            accounts_pb2.CreateApiKeyRequest(parent="organizations/-", default_start_within="30s"),
            metadata=_metadata(org),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "default_start_within" in (caught.value.details() or "")


def test_patch_sets_a_key_default_and_the_next_request_uses_it(
    http: httpx.Client, org: Org, rest: RestServer
) -> None:
    # A second key, not used before the change (so no auth cache holds it yet).
    batch, batch_secret = rest.store.create_api_key(org.organization_id)
    name = f"organizations/-/apiKeys/{batch.id}"
    headers = {"authorization": f"Bearer {org.api_key}"}
    params = {"updateMask": "defaultStartWithin", "requestId": "7b0c3d52-2f6e-4c1b-9a57-0e1f"}
    patched = http.patch(
        f"/v1/{name}", params=params, json={"defaultStartWithin": WINDOW}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["defaultStartWithin"] == WINDOW
    # The same request id again: the first answer, nothing changed.
    again = http.patch(
        f"/v1/{name}", params=params, json={"defaultStartWithin": "default"}, headers=headers
    )
    assert again.json()["defaultStartWithin"] == WINDOW
    raw = openai_client(rest, batch_secret).chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=HI
    )
    assert raw.parse().service_tier == "flex"
    assert raw.headers[SOURCE] == "key_default"


def test_clearing_a_key_default_makes_requests_name_one_again(
    channel: grpc.Channel, rest: RestServer
) -> None:
    org = keyed_org(rest, WINDOW)
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    keys = stub.ListApiKeys(
        accounts_pb2.ListApiKeysRequest(parent="organizations/-"), metadata=_metadata(org)
    ).api_keys
    keyed = next(k for k in keys if k.default_start_within)
    cleared = stub.UpdateApiKey(
        accounts_pb2.UpdateApiKeyRequest(
            api_key=accounts_pb2.ApiKey(name=keyed.name, default_start_within=""),
            update_mask=field_mask_pb2.FieldMask(paths=["default_start_within"]),
        ),
        metadata=_metadata(org),
    )
    assert cleared.default_start_within == ""
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateApiKey(
            accounts_pb2.UpdateApiKeyRequest(
                api_key=accounts_pb2.ApiKey(name=keyed.name, default_start_within="default"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_prefix"]),
            ),
            metadata=_metadata(org),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_error_answer_says_how_many_times_the_request_was_re_sent(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", error_rate=1.0)
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client(rest, org.api_key).chat.completions.create(
            model=OPENAI_MODEL,
            messages=HI,
            extra_body={"start_within": "default", "retry": {"count": 2, "jitter": False}},
        )
    assert caught.value.status_code >= 500
    assert caught.value.response.headers[RETRIES] == "2"
    assert len(sim.records) == 3


def test_a_refused_request_says_it_was_not_re_sent(rest: RestServer, org: Org) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(rest, org.api_key).chat.completions.create(model=OPENAI_MODEL, messages=HI)
    assert caught.value.response.headers[RETRIES] == "0"


def test_grpc_errors_carry_the_retry_count_in_trailing_metadata(
    channel: grpc.Channel, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", error_rate=1.0)
    stub = route_pb2_grpc.RouteServiceStub(channel)
    body = json.dumps(
        {
            "model": OPENAI_MODEL,
            "input": "hi",
            "start_within": "default",
            "retry": {"count": 1, "jitter": False},
        }
    ).encode()
    call = stub.CreateResponse(
        route_pb2.CreateResponseRequest(
            body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
        ),
        metadata=_metadata(org),
        timeout=60,
    )
    with pytest.raises(grpc.RpcError) as caught:
        list(call)
    trailing = dict(caught.value.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert trailing[RETRIES] == "1"


def test_the_genai_sdk_sends_the_header_through_its_http_options(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    if not hasattr(genai.Client, "interactions"):
        pytest.skip("this google-genai has no client.interactions")
    api = genai.Client(
        api_key=org.api_key,
        http_options={
            "base_url": rest.url,
            "api_version": "v1",
            "retry_options": {"attempts": 1},
            "headers": {HEADER: WINDOW},
        },
    )
    interaction = api.interactions.create(model=GEMINI_MODEL, input="hi")
    assert interaction.service_tier == "flex"
    assert [r.service_tier for r in sim.records] == ["flex"]


def test_a_streamed_answer_says_where_start_within_came_from(rest: RestServer, org: Org) -> None:
    client = openai_client(rest, org.api_key, **{HEADER: WINDOW})
    with client.chat.completions.with_streaming_response.create(
        model=OPENAI_MODEL, messages=HI, stream=True
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert (response.headers[SOURCE], response.headers[RETRIES]) == ("header", "0")
        assert response.headers["x-flexinference-tier"] == "flex"
        assert "[DONE]" in response.read().decode()


def test_a_typed_route_refused_before_routing_says_it_was_not_re_sent(
    http: httpx.Client, org: Org
) -> None:
    answer = http.post(
        "/v1/route",
        json={"model": OPENAI_MODEL, "surface": "SURFACE_CHAT_COMPLETIONS"},
        headers={"authorization": f"Bearer {org.api_key}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["reason"] == "missing_start_within"
    assert answer.headers[RETRIES] == "0"


def test_generate_content_races_flex_with_the_header_as_an_sdk_default(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    api = genai.Client(
        api_key=org.api_key,
        http_options={
            "base_url": rest.url,
            "api_version": "v1beta",
            "retry_options": {"attempts": 1},
            "headers": {HEADER: WINDOW},
        },
    )
    response = api.models.generate_content(model=GEMINI_MODEL, contents="hi")
    assert response.text
    assert [r.service_tier for r in sim.records] == ["flex"]
    headers = (response.sdk_http_response.headers or {}) if response.sdk_http_response else {}
    assert headers.get(SOURCE) == "header"


def test_another_organizations_key_cannot_be_updated(
    channel: grpc.Channel, rest: RestServer
) -> None:
    mine, theirs = new_org(rest.store, "Mine"), new_org(rest.store, "Theirs")
    (their_key,) = rest.store.list_api_keys(theirs.organization_id)
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateApiKey(
            accounts_pb2.UpdateApiKeyRequest(
                api_key=accounts_pb2.ApiKey(
                    name=f"organizations/-/apiKeys/{their_key.id}", default_start_within=WINDOW
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["default_start_within"]),
            ),
            metadata=_metadata(mine),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    (unchanged,) = rest.store.list_api_keys(theirs.organization_id)
    assert unchanged.default_start_within is None
