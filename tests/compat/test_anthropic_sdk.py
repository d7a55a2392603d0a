"""The official ``anthropic`` SDK, unchanged, pointed at the REST shim with ``base_url``."""

from __future__ import annotations

import anthropic
import pytest

from flexgrpc.sim import SimulatorThread
from tests.compat.conftest import CLAUDE_MODEL, WINDOW, Org, RestServer

# The SDK warns that the simulator's Claude model id is nearing end of life; irrelevant here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HI = [{"role": "user", "content": "hi"}]


def client(rest: RestServer, api_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=rest.url, api_key=api_key, max_retries=0, timeout=60)


def test_a_message(rest: RestServer, org: Org, sim: SimulatorThread) -> None:
    raw = client(rest, org.api_key).messages.with_raw_response.create(
        model=CLAUDE_MODEL, max_tokens=64, messages=HI, extra_body={"start_within": "default"}
    )
    message = raw.parse()
    assert (message.type, message.role, message.stop_reason) == ("message", "assistant", "end_turn")
    assert message.content[0].type == "text"
    assert message.content[0].text
    assert raw.headers["x-flexinference-tier"] == "standard"
    (seen,) = sim.records
    assert seen.service_tier == "standard_only"


def test_a_streamed_message(rest: RestServer, org: Org) -> None:
    with client(rest, org.api_key).messages.stream(
        model=CLAUDE_MODEL, max_tokens=64, messages=HI, extra_body={"start_within": "default"}
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds
    assert final.stop_reason == "end_turn"
    assert final.content[0].type == "text"
    assert final.content[0].text


def test_errors_arrive_in_anthropic_s_envelope(rest: RestServer, org: Org) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(rest, org.api_key).messages.create(
            model=CLAUDE_MODEL, max_tokens=64, messages=HI, extra_body={"start_within": WINDOW}
        )
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "no flex tier" in body["error"]["message"]


def test_a_bad_key_is_an_authentication_error(rest: RestServer) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client(rest, "flex_live_" + "0" * 30).messages.create(
            model=CLAUDE_MODEL, max_tokens=64, messages=HI, extra_body={"start_within": "default"}
        )
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"]["type"] == "authentication_error"
