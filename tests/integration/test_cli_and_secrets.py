"""The operator CLI end to end, and secrets never reaching logs or output they should not."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import grpc
import pytest
from flexinference.v1 import accounts_pb2, accounts_pb2_grpc

from flexgrpc.accounts.crypto import generate_encryption_key
from tests.richstatus import rich_error
from tests.serverproc import start_server

OPENAI_SECRET = "sk-proj-" + "Zq9" * 16
GEMINI_SECRET = "AIza" + "Xy7" * 12


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flexgrpc.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


@pytest.fixture
def env(tmp_path: pathlib.Path) -> dict[str, str]:
    return {
        "FLEXGRPC_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "FLEXGRPC_ENCRYPTION_KEY": generate_encryption_key(),
        "FLEXGRPC_LOG_LEVEL": "DEBUG",
    }


def test_operator_flow_and_no_secret_in_any_log(
    tmp_path: pathlib.Path, env: dict[str, str]
) -> None:
    org = cli(env, "org", "create", "Initech", "--json")
    assert org.returncode == 0, org.stderr
    org_id = json.loads(org.stdout)["organization_id"]

    created = cli(env, "key", "create", org_id, "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["api_key"].startswith("flex_live_")

    stored = cli(env, "provider-key", "set", org_id, "openai", stdin=OPENAI_SECRET + "\n")
    assert stored.returncode == 0, stored.stderr
    assert cli(env, "provider-key", "set", org_id, "gemini", stdin=GEMINI_SECRET).returncode == 0

    server = start_server(tmp_path, env)
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = accounts_pb2_grpc.AccountServiceStub(channel)
            auth = (("authorization", f"Bearer {key['api_key']}"),)
            whoami = stub.GetOrganization(
                accounts_pb2.GetOrganizationRequest(name="organizations/-"), metadata=auth
            )
            assert list(whoami.provider_keys) == ["gemini", "openai"]
            # A near-miss of the real key, as a typo would be: it must not be logged either.
            typo = key["api_key"][:-1] + ("0" if key["api_key"][-1] != "0" else "1")
            with pytest.raises(grpc.RpcError):
                stub.GetOrganization(
                    accounts_pb2.GetOrganizationRequest(name="organizations/-"),
                    metadata=(("authorization", f"Bearer {typo}"),),
                )
    finally:
        assert server.stop() == 0

    revoked = cli(env, "key", "revoke", key["key_id"])
    assert revoked.returncode == 0, revoked.stderr

    logs = server.logs()
    assert "server started" in logs  # the log really was captured, at DEBUG
    for secret in (
        key["api_key"],
        typo,
        OPENAI_SECRET,
        GEMINI_SECRET,
        env["FLEXGRPC_ENCRYPTION_KEY"],
    ):
        assert secret not in logs
        assert secret not in stored.stdout + stored.stderr + revoked.stdout + revoked.stderr
    for line in logs.splitlines():
        json.loads(line)  # structured: one JSON object per line


def test_provider_key_needs_the_encryption_key(env: dict[str, str]) -> None:
    org_id = json.loads(cli(env, "org", "create", "NoKey", "--json").stdout)["organization_id"]
    no_key = {**env, "FLEXGRPC_ENCRYPTION_KEY": ""}
    result = cli(no_key, "provider-key", "set", org_id, "openai", stdin=OPENAI_SECRET)
    assert result.returncode == 2
    assert "FLEXGRPC_ENCRYPTION_KEY" in result.stderr
    assert OPENAI_SECRET not in result.stderr


def test_an_operator_sets_an_organizations_limits_and_reads_them_back(
    env: dict[str, str],
) -> None:
    org_id = json.loads(cli(env, "org", "create", "Limited", "--json").stdout)["organization_id"]
    unlimited = json.loads(cli(env, "org", "limits", org_id, "--json").stdout)
    assert unlimited == {
        "organization_id": org_id,
        "requests_per_minute": 0,
        "request_burst": 0,
        "flex_race_slots": 0,
        "flex_race_slots_on_exceed": "refuse",
    }
    set_ = cli(env, "org", "limits", org_id, "--requests-per-minute", "600", "--burst", "50",
               "--json")  # fmt: skip
    assert set_.returncode == 0, set_.stderr
    changed = cli(env, "org", "limits", org_id, "--flex-race-slots", "4", "--on-exceed",
                  "degrade_to_standard", "--json")  # fmt: skip
    assert json.loads(changed.stdout) == {
        "organization_id": org_id,
        "requests_per_minute": 600,  # kept: only the flags given change
        "request_burst": 50,
        "flex_race_slots": 4,
        "flex_race_slots_on_exceed": "degrade_to_standard",
    }
    negative = cli(env, "org", "limits", org_id, "--burst", "-1")
    assert negative.returncode == 2
    assert "request_burst must be a whole number from 0 (unlimited)" in negative.stderr
    assert cli(env, "org", "limits", "org_doesnotexist").returncode == 2


def test_unknown_ids_are_clear_errors(env: dict[str, str]) -> None:
    result = cli(env, "key", "create", "org_doesnotexist")
    assert result.returncode == 2
    assert "not_found" in result.stderr
    result = cli(env, "key", "revoke", "key_doesnotexist")
    assert result.returncode == 2
    assert "not_found" in result.stderr


def test_failed_authentications_are_rate_limited_per_address(
    tmp_path: pathlib.Path, env: dict[str, str]
) -> None:
    server = start_server(tmp_path, {**env, "FLEXGRPC_AUTH_FAILURES_PER_MINUTE": "3"})
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = accounts_pb2_grpc.AccountServiceStub(channel)
            request = accounts_pb2.GetOrganizationRequest(name="organizations/-")
            bad = (("authorization", "Bearer flex_live_nope"),)
            reasons = []
            for _ in range(4):
                with pytest.raises(grpc.RpcError) as caught:
                    stub.GetOrganization(request, metadata=bad, timeout=10)
                reasons.append(rich_error(caught.value))
    finally:
        server.stop()
    assert [r.reason for r in reasons] == ["invalid_api_key"] * 3 + ["rate_limit_exceeded"]
    limited = reasons[-1]
    assert limited.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 1 <= int(limited.trailers["retry-after"]) <= 60
    assert limited.retry[0].retry_delay.seconds == int(limited.trailers["retry-after"])


def test_serve_prints_exactly_one_listen_line(tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    server = start_server(tmp_path, env)
    try:
        assert server.stdout_lines == [f"grpc listening on 127.0.0.1:{server.port}"]
    finally:
        server.stop()
