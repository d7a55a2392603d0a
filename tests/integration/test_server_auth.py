"""Authentication, error details and organization scoping, over a real server and channel."""

from __future__ import annotations

import time

import grpc
import pytest
from flexinference.v1 import accounts_pb2, accounts_pb2_grpc, billing_pb2, billing_pb2_grpc

from flexgrpc.accounts.api_keys import generate_api_key
from flexgrpc.accounts.store import AccountStore
from tests.integration.conftest import Caller, new_caller
from tests.richstatus import rich_error

WHOAMI = accounts_pb2.GetOrganizationRequest(name="organizations/-")


def _fail(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_own_organization_is_returned_to_a_valid_key(channel: grpc.Channel, caller: Caller) -> None:
    org = accounts_pb2_grpc.AccountServiceStub(channel).GetOrganization(
        WHOAMI, metadata=caller.metadata, timeout=10
    )
    assert org.name == f"organizations/{caller.organization_id}"
    assert org.display_name == "Acme"


def test_call_without_a_key_is_missing_api_key(channel: grpc.Channel) -> None:
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    error = rich_error(_fail(lambda: stub.GetOrganization(WHOAMI, timeout=10)))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "missing_api_key"
    assert error.infos[0].domain == "flexinference.v1"
    assert "Bearer" in error.message


@pytest.mark.parametrize(
    "header",
    [
        "flex_live_0123456789abcdef01234567abcdef",  # no "Bearer " scheme
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_authorization_without_a_bearer_key_is_missing_api_key(
    channel: grpc.Channel, header: str
) -> None:
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    error = rich_error(
        _fail(
            lambda: stub.GetOrganization(WHOAMI, metadata=(("authorization", header),), timeout=10)
        )
    )
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "missing_api_key"


def _corrupt_checksum(key: str) -> str:
    last = "0" if key[-1] != "0" else "1"
    return key[:-1] + last


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda k: "garbage", id="not-a-key"),
        pytest.param(lambda k: k[:-2], id="truncated"),
        pytest.param(_corrupt_checksum, id="bad-checksum"),
        pytest.param(lambda k: k.upper(), id="upper-case"),
        pytest.param(lambda k: generate_api_key(), id="well-formed-but-unknown"),
    ],
)
def test_a_bad_key_is_invalid_api_key(channel: grpc.Channel, caller: Caller, make_key) -> None:  # type: ignore[no-untyped-def]
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    bad = make_key(caller.api_key)
    error = rich_error(
        _fail(
            lambda: stub.GetOrganization(
                WHOAMI, metadata=(("authorization", f"Bearer {bad}"),), timeout=10
            )
        )
    )
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "invalid_api_key"


def test_a_revoked_key_stops_working(
    channel: grpc.Channel, caller: Caller, accounts: AccountStore
) -> None:
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    stub.GetOrganization(WHOAMI, metadata=caller.metadata, timeout=10)  # cached as valid
    accounts.revoke_api_key(caller.key_id)
    time.sleep(0.3)  # the server trusts a valid key for FLEXGRPC_AUTH_CACHE_TTL_S (0.2 s here)
    error = rich_error(
        _fail(lambda: stub.GetOrganization(WHOAMI, metadata=caller.metadata, timeout=10))
    )
    assert error.reason == "invalid_api_key"


def test_another_organization_cannot_be_read(
    channel: grpc.Channel, caller: Caller, accounts: AccountStore
) -> None:
    other = new_caller(accounts, "Globex")
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    request = accounts_pb2.GetOrganizationRequest(name=f"organizations/{other.organization_id}")
    error = rich_error(_fail(lambda: stub.GetOrganization(request, metadata=caller.metadata)))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert error.reason == "permission_denied"
    keys = stub.ListApiKeys(
        accounts_pb2.ListApiKeysRequest(parent="organizations/-"), metadata=other.metadata
    )
    assert [k.name for k in keys.api_keys] == [
        f"organizations/{other.organization_id}/apiKeys/{other.key_id}"
    ]


def test_a_malformed_resource_name_is_a_field_error(channel: grpc.Channel, caller: Caller) -> None:
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    request = accounts_pb2.GetOrganizationRequest(name="orgs/x/y")
    error = rich_error(_fail(lambda: stub.GetOrganization(request, metadata=caller.metadata)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "invalid_argument"
    assert error.bad_request[0].field_violations[0].field == "name"


def test_api_keys_page_with_opaque_tokens(
    channel: grpc.Channel, caller: Caller, accounts: AccountStore
) -> None:
    for _ in range(2):
        accounts.create_api_key(caller.organization_id)
    stub = accounts_pb2_grpc.AccountServiceStub(channel)
    seen: list[str] = []
    token = ""
    for _ in range(5):
        page = stub.ListApiKeys(
            accounts_pb2.ListApiKeysRequest(
                parent="organizations/-", page_size=1, page_token=token
            ),
            metadata=caller.metadata,
        )
        seen += [k.name for k in page.api_keys]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 3 == len(set(seen))
    assert not token

    bad = accounts_pb2.ListApiKeysRequest(parent="organizations/-", page_token="not-a-token")
    error = rich_error(_fail(lambda: stub.ListApiKeys(bad, metadata=caller.metadata)))
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_page_token")


def test_every_service_requires_a_key_except_the_signed_webhook(
    channel: grpc.Channel, caller: Caller
) -> None:
    stub = billing_pb2_grpc.BillingServiceStub(channel)
    request = billing_pb2.ListInvoicesRequest(parent="organizations/-")
    assert list(stub.ListInvoices(request, metadata=caller.metadata).invoices) == []
    error = rich_error(_fail(lambda: stub.ListInvoices(request)))
    assert error.reason == "missing_api_key"
    # The webhook authenticates by Stripe's signature instead; without one it is refused as
    # bad input (or unavailable when no signing secret is configured), never as missing key.
    webhook = billing_pb2.HandleStripeWebhookRequest()
    webhook.body.data = b"{}"
    error = rich_error(_fail(lambda: stub.HandleStripeWebhook(webhook)))
    assert error.reason != "missing_api_key"
