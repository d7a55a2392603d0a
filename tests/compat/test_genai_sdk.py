"""The official ``google-genai`` SDK, unchanged, on the Interactions surface of the REST shim.

The shim serves ``/v1/interactions`` (SPEC §2), so the client names API version ``v1``.
"""

from __future__ import annotations

from typing import Any

import pytest
from google import genai

from flexgrpc.sim import SimulatorThread
from tests.compat.conftest import GEMINI_MODEL, WINDOW, Org, RestServer

pytestmark = pytest.mark.skipif(
    not hasattr(genai.Client, "interactions"), reason="this google-genai has no client.interactions"
)


def client(rest: RestServer, api_key: str) -> genai.Client:
    return genai.Client(
        api_key=api_key,
        http_options={"base_url": rest.url, "api_version": "v1", "retry_options": {"attempts": 1}},
    )


def status_error(caught: pytest.ExceptionInfo[Exception], name: str, status: int) -> Any:
    """The SDK's own exception for an HTTP status (its classes are not exported publicly)."""
    assert type(caught.value).__name__ == name, repr(caught.value)
    assert getattr(caught.value, "status_code", None) == status
    body = getattr(caught.value, "body", None)
    assert isinstance(body, dict)
    return body


def test_an_interaction_on_flex(rest: RestServer, org: Org, sim: SimulatorThread) -> None:
    api = client(rest, org.api_key)
    interaction = api.interactions.create(
        model=GEMINI_MODEL, input="hi", extra_body={"start_within": WINDOW}
    )
    assert interaction.status == "completed"
    assert interaction.service_tier == "flex"
    (seen,) = sim.records
    assert (seen.service_tier, seen.path) == ("flex", "/v1beta/interactions")


def test_a_streamed_interaction(rest: RestServer, org: Org) -> None:
    api = client(rest, org.api_key)
    events = list(
        api.interactions.create(
            model=GEMINI_MODEL, input="hi", stream=True, extra_body={"start_within": "default"}
        )
    )
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created"
    assert kinds[-1] == "interaction.completed"
    assert "step.delta" in kinds


def test_errors_arrive_in_google_s_envelope(rest: RestServer, org: Org) -> None:
    api = client(rest, org.api_key)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the SDK's classes are private
        api.interactions.create(model=GEMINI_MODEL, input="hi", extra_body={"start_within": "auto"})
    error = status_error(caught, "BadRequestError", 400)["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["reason"] == "auto_unsupported_for_gemini"


def test_the_goog_api_key_header_authenticates(rest: RestServer) -> None:
    api = client(rest, "flex_live_" + "0" * 30)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the SDK's classes are private
        api.interactions.create(
            model=GEMINI_MODEL, input="hi", extra_body={"start_within": "default"}
        )
    body = status_error(caught, "AuthenticationError", 401)
    assert body["error"]["details"][0]["reason"] == "invalid_api_key"
