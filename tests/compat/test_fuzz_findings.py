"""What the fuzz stages found, each kept found: REST through the real shim."""

from __future__ import annotations

import httpx
import pytest

from tests.compat.conftest import Org, RestServer


@pytest.mark.parametrize("type_url", [{}, 5, [], None, True])
@pytest.mark.parametrize("path", ["/v1/route", "/v1/route:stream"])
def test_an_any_whose_type_is_not_a_string_is_a_400(
    rest: RestServer, org: Org, path: str, type_url: object
) -> None:
    # schemathesis: {"body": {"extensions": [{"@type": {}}]}} was a 500 (json_format let an
    # AttributeError out instead of a ParseError).
    body = {"model": "gpt-5-mini", "body": {"extensions": [{"@type": type_url}]}}
    answer = httpx.post(
        rest.url + path, json=body, headers={"authorization": f"Bearer {org.api_key}"}, timeout=30
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "flexinference.v1" in error["message"]
    assert "Traceback" not in rest.process.logs()
