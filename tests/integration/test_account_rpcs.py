"""AccountService's self-service methods over a real server: API keys, provider keys and the
organization's name, each answered idempotently by request_id, each for one's own organization."""

from __future__ import annotations

import hashlib

import grpc
import pytest
from flexinference.v1 import accounts_pb2, accounts_pb2_grpc
from google.protobuf import field_mask_pb2

from flexgrpc.accounts.store import AccountStore
from flexgrpc.api.interceptors import SESSION_KEY
from tests.integration.conftest import Caller, new_caller
from tests.richstatus import rich_error

OWN = "organizations/-"


@pytest.fixture
def stub(channel: grpc.Channel) -> accounts_pb2_grpc.AccountServiceStub:
    return accounts_pb2_grpc.AccountServiceStub(channel)


def _fail(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_a_created_api_key_is_shown_once_and_then_authenticates(
    stub: accounts_pb2_grpc.AccountServiceStub, caller: Caller
) -> None:
    created = stub.CreateApiKey(
        accounts_pb2.CreateApiKeyRequest(parent=OWN), metadata=caller.metadata, timeout=10
    )
    assert created.secret.startswith("flex_live_")
    assert created.api_key.name.startswith(f"organizations/{caller.organization_id}/apiKeys/")
    assert created.secret.startswith(created.api_key.display_prefix.rstrip("…"))
    org = stub.GetOrganization(
        accounts_pb2.GetOrganizationRequest(name=OWN),
        metadata=(("authorization", f"Bearer {created.secret}"),),
        timeout=10,
    )
    assert org.name == f"organizations/{caller.organization_id}"
    listed = stub.ListApiKeys(
        accounts_pb2.ListApiKeysRequest(parent=OWN), metadata=caller.metadata, timeout=10
    )
    assert created.api_key.name in [k.name for k in listed.api_keys]
    assert created.secret not in str(listed)


def test_a_repeated_request_id_returns_the_same_key_without_its_secret(
    stub: accounts_pb2_grpc.AccountServiceStub, caller: Caller
) -> None:
    request = accounts_pb2.CreateApiKeyRequest(parent=OWN, request_id="2f6a3c1d-create-once")
    first = stub.CreateApiKey(request, metadata=caller.metadata, timeout=10)
    again = stub.CreateApiKey(request, metadata=caller.metadata, timeout=10)
    assert again.api_key == first.api_key
    assert first.secret
    assert not again.secret
    listed = stub.ListApiKeys(
        accounts_pb2.ListApiKeysRequest(parent=OWN), metadata=caller.metadata, timeout=10
    )
    assert len(listed.api_keys) == 2  # the caller's own key and one new one, not two


def test_a_revoked_key_stops_authenticating_and_revoking_again_changes_nothing(
    stub: accounts_pb2_grpc.AccountServiceStub, caller: Caller
) -> None:
    created = stub.CreateApiKey(
        accounts_pb2.CreateApiKeyRequest(parent=OWN), metadata=caller.metadata, timeout=10
    )
    key_id = created.api_key.name.rsplit("/", 1)[1]
    revoke = accounts_pb2.RevokeApiKeyRequest(name=f"{OWN}/apiKeys/{key_id}")
    revoked = stub.RevokeApiKey(revoke, metadata=caller.metadata, timeout=10)
    assert revoked.HasField("revoke_time")
    assert stub.RevokeApiKey(revoke, metadata=caller.metadata, timeout=10) == revoked
    error = rich_error(
        _fail(
            lambda: stub.GetOrganization(
                accounts_pb2.GetOrganizationRequest(name=OWN),
                metadata=(("authorization", f"Bearer {created.secret}"),),
                timeout=10,
            )
        )
    )
    assert error.reason == "invalid_api_key"


def test_another_organizations_key_cannot_be_revoked(
    stub: accounts_pb2_grpc.AccountServiceStub, caller: Caller, accounts: AccountStore
) -> None:
    other = new_caller(accounts, "Other")
    by_id = _fail(
        lambda: stub.RevokeApiKey(
            accounts_pb2.RevokeApiKeyRequest(name=f"{OWN}/apiKeys/{other.key_id}"),
            metadata=caller.metadata,
            timeout=10,
        )
    )
    assert rich_error(by_id).reason == "not_found"
    by_name = _fail(
        lambda: stub.RevokeApiKey(
            accounts_pb2.RevokeApiKeyRequest(
                name=f"organizations/{other.organization_id}/apiKeys/{other.key_id}"
            ),
            metadata=caller.metadata,
            timeout=10,
        )
    )
    assert rich_error(by_name).reason == "permission_denied"
    assert accounts.authenticate(other.api_key) is not None


def test_a_provider_key_is_write_only_with_a_fingerprint(
    stub: accounts_pb2_grpc.AccountServiceStub, caller: Caller, accounts: AccountStore
) -> None:
    secret = "sk-test-" + "f" * 40
    saved = stub.SetProviderKey(
        accounts_pb2.SetProviderKeyRequest(name=f"{OWN}/providerKeys/openai", secret=secret),
        metadata=caller.metadata,
        timeout=10,
    )
    fingerprint = "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:8]
    assert (saved.provider, saved.fingerprint) == ("openai", fingerprint)
    listed = stub.ListProviderKeys(
        accounts_pb2.ListProviderKeysRequest(parent=OWN), metadata=caller.metadata, timeout=10
    )
    assert [(k.provider, k.fingerprint) for k in listed.provider_keys] == [("openai", fingerprint)]
    assert secret not in str(listed)
    assert secret not in str(saved)
    assert accounts.get_provider_key(caller.organization_id, "openai") == secret
    stub.DeleteProviderKey(
        accounts_pb2.DeleteProviderKeyRequest(name=f"{OWN}/providerKeys/openai"),
        metadata=caller.metadata,
        timeout=10,
    )
    assert accounts.get_provider_key(caller.organization_id, "openai") is None
    again = _fail(
        lambda: stub.DeleteProviderKey(
            accounts_pb2.DeleteProviderKeyRequest(name=f"{OWN}/providerKeys/openai"),
            metadata=caller.metadata,
            timeout=10,
        )
    )
    assert rich_error(again).reason == "not_found"


@pytest.mark.parametrize(
    ("name", "secret", "field"),
    [
        (f"{OWN}/providerKeys/mistral", "sk-x", "name"),
        (f"{OWN}/providerKeys/openai", "", "secret"),
        (f"{OWN}/providerKeys/openai", "sk-with a space", "secret"),
        ("organizations/-/providerKeys", "sk-x", "name"),
    ],
)
def test_a_bad_provider_key_request_is_refused_and_changes_nothing(
    stub: accounts_pb2_grpc.AccountServiceStub,
    caller: Caller,
    accounts: AccountStore,
    name: str,
    secret: str,
    field: str,
) -> None:
    error = rich_error(
        _fail(
            lambda: stub.SetProviderKey(
                accounts_pb2.SetProviderKeyRequest(name=name, secret=secret),
                metadata=caller.metadata,
                timeout=10,
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.bad_request[0].field_violations[0].field == field
    assert accounts.list_provider_keys(caller.organization_id) == []


def test_the_organization_is_renamed_through_its_update_mask(
    stub: accounts_pb2_grpc.AccountServiceStub, caller: Caller
) -> None:
    renamed = stub.UpdateOrganization(
        accounts_pb2.UpdateOrganizationRequest(
            organization=accounts_pb2.Organization(name=OWN, display_name="  Acme Labs "),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        metadata=caller.metadata,
        timeout=10,
    )
    assert renamed.display_name == "Acme Labs"
    for mask in ([], ["create_time"]):
        error = rich_error(
            _fail(
                lambda mask=mask: stub.UpdateOrganization(
                    accounts_pb2.UpdateOrganizationRequest(
                        organization=accounts_pb2.Organization(name=OWN, display_name="X"),
                        update_mask=field_mask_pb2.FieldMask(paths=mask),
                    ),
                    metadata=caller.metadata,
                    timeout=10,
                )
            )
        )
        assert (error.reason, error.bad_request[0].field_violations[0].field) == (
            "invalid_argument",
            "update_mask",
        )
    blank = _fail(
        lambda: stub.UpdateOrganization(
            accounts_pb2.UpdateOrganizationRequest(
                organization=accounts_pb2.Organization(name=OWN, display_name="   "),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=caller.metadata,
            timeout=10,
        )
    )
    assert rich_error(blank).reason == "invalid_argument"
    org = stub.GetOrganization(
        accounts_pb2.GetOrganizationRequest(name=OWN), metadata=caller.metadata, timeout=10
    )
    assert org.display_name == "Acme Labs"


def test_a_session_token_from_outside_the_process_is_not_a_credential(
    stub: accounts_pb2_grpc.AccountServiceStub,
) -> None:
    # Only the dashboard inside the server may present session tokens.
    error = rich_error(
        _fail(
            lambda: stub.GetOrganization(
                accounts_pb2.GetOrganizationRequest(name=OWN),
                metadata=((SESSION_KEY, "a" * 43),),
                timeout=10,
            )
        )
    )
    assert error.reason == "missing_api_key"
