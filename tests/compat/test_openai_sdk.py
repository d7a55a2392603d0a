"""The official ``openai`` SDK, unchanged, pointed at the REST shim with ``base_url``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

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


def client(rest: RestServer, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{rest.url}/v1", api_key=api_key, max_retries=0, timeout=60)


def test_chat_completion_flex_answer_with_routing_headers(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    raw = client(rest, org.api_key).chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=HI, extra_body={"start_within": WINDOW}
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.service_tier == "flex"
    assert completion.choices[0].message.content
    assert raw.headers["x-flexinference-tier"] == "flex"
    assert raw.headers["x-flexinference-request-id"].startswith("req_")
    (seen,) = sim.records
    assert seen.service_tier == "flex"
    assert "start_within" not in seen.body


def test_chat_completion_standard_answer(rest: RestServer, org: Org) -> None:
    raw = client(rest, org.api_key).chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=HI, extra_body={"start_within": "default"}
    )
    assert raw.parse().service_tier == "default"
    assert raw.headers["x-flexinference-tier"] == "standard"


def test_flex_that_cannot_start_falls_back_to_a_standard_answer(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")
    raw = client(rest, org.api_key).chat.completions.with_raw_response.create(
        model=OPENAI_MODEL, messages=HI, extra_body={"start_within": "00h-00m-05s"}
    )
    assert raw.parse().service_tier == "default"
    assert raw.headers["x-flexinference-tier"] == "standard"
    assert [r.service_tier for r in sim.records] == ["flex", "default"]


def test_streamed_chat_completion_ends_with_the_stop_chunk(rest: RestServer, org: Org) -> None:
    stream = client(rest, org.api_key).chat.completions.create(
        model=OPENAI_MODEL, messages=HI, stream=True, extra_body={"start_within": WINDOW}
    )
    chunks = list(stream)
    assert chunks[0].service_tier == "flex"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_streamed_chat_completion_reaches_claude_translated(rest: RestServer, org: Org) -> None:
    stream = client(rest, org.api_key).chat.completions.create(
        model=CLAUDE_MODEL, messages=HI, stream=True, extra_body={"start_within": "default"}
    )
    chunks = list(stream)
    assert chunks[0].object == "chat.completion.chunk"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_responses_flex_and_standard(rest: RestServer, org: Org) -> None:
    api = client(rest, org.api_key)
    flex = api.responses.create(model=OPENAI_MODEL, input="hi", extra_body={"start_within": WINDOW})
    assert (flex.object, flex.status, flex.service_tier) == ("response", "completed", "flex")
    assert flex.output_text
    standard = api.responses.create(
        model=OPENAI_MODEL, input="hi", extra_body={"start_within": "default"}
    )
    assert standard.service_tier == "default"


def test_streamed_responses_are_named_events_to_the_terminal_one(
    rest: RestServer, org: Org
) -> None:
    with client(rest, org.api_key).responses.create(
        model=OPENAI_MODEL, input="hi", stream=True, extra_body={"start_within": WINDOW}
    ) as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.service_tier == "flex"


def test_a_stream_with_include_cost_is_accepted_and_completes(rest: RestServer, org: Org) -> None:
    with client(rest, org.api_key).responses.create(
        model=OPENAI_MODEL,
        input="hi",
        stream=True,
        extra_body={"start_within": WINDOW, "include_cost": True},
    ) as stream:
        kinds = [e.type for e in stream]
    assert kinds[-1] == "response.completed"


def _chat(api: openai.OpenAI, model: str = OPENAI_MODEL, **body: Any) -> Callable[[], Any]:
    return lambda: api.chat.completions.create(model=model, messages=HI, extra_body=body)


@pytest.mark.parametrize(
    ("code", "exception", "model", "body"),
    [
        ("missing_model", openai.BadRequestError, "", {"start_within": "default"}),
        ("missing_start_within", openai.BadRequestError, OPENAI_MODEL, {}),
        ("invalid_start_within", openai.BadRequestError, OPENAI_MODEL, {"start_within": "30s"}),
        (
            "service_tier_not_allowed",
            openai.BadRequestError,
            OPENAI_MODEL,
            {"start_within": "default", "service_tier": "flex"},
        ),
        ("model_not_flex_capable", openai.BadRequestError, "gpt-4o", {"start_within": WINDOW}),
        (
            "flex_unsupported_for_anthropic",
            openai.BadRequestError,
            CLAUDE_MODEL,
            {"start_within": WINDOW},
        ),
        (
            "auto_unsupported_for_gemini",
            openai.BadRequestError,
            GEMINI_MODEL,
            {"start_within": "auto"},
        ),
        (
            "invalid_retry",
            openai.BadRequestError,
            OPENAI_MODEL,
            {"start_within": "default", "retry": {"count": 9}},
        ),
    ],
)
def test_validation_errors_surface_as_the_sdk_exception_with_the_spec_code(
    rest: RestServer,
    org: Org,
    code: str,
    exception: type[openai.APIStatusError],
    model: str,
    body: dict[str, Any],
) -> None:
    with pytest.raises(exception) as caught:
        _chat(client(rest, org.api_key), model, **body)()
    assert caught.value.status_code == 400
    assert caught.value.code == code
    assert caught.value.type == "invalid_request_error"
    assert caught.value.message


def test_a_field_error_names_the_param(rest: RestServer, org: Org) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _chat(client(rest, org.api_key), start_within="soon")()
    assert caught.value.param == "start_within"


def test_authentication_errors(rest: RestServer) -> None:
    not_bearer = client(rest, "x").with_options(default_headers={"Authorization": "Basic eA=="})
    wrong_key = client(rest, "flex_live_" + "0" * 30)
    for api, code in ((not_bearer, "missing_api_key"), (wrong_key, "invalid_api_key")):
        with pytest.raises(openai.AuthenticationError) as caught:
            _chat(api, start_within="default")()
        assert caught.value.status_code == 401
        assert caught.value.code == code
        assert caught.value.type == "authentication_error"


def test_a_missing_provider_key_is_a_400_precondition(rest: RestServer) -> None:
    keyless = new_org(rest.store, "No Keys", provider_keys=False)
    with pytest.raises(openai.BadRequestError) as caught:
        _chat(client(rest, keyless.api_key), start_within="default")()
    assert caught.value.code == "no_byok_key"


def test_an_oversized_body_is_request_too_large(rest: RestServer, org: Org) -> None:
    huge = [{"role": "user", "content": "x" * 1_000_001}]
    with pytest.raises(openai.APIStatusError) as caught:
        client(rest, org.api_key).chat.completions.create(
            model=OPENAI_MODEL, messages=huge, extra_body={"start_within": "default"}
        )
    assert caught.value.status_code == 413
    assert caught.value.code == "request_too_large"


def test_an_upstream_refusal_keeps_the_provider_status(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", refusal_rate=1.0, refusal_status=400)
    with pytest.raises(openai.BadRequestError) as caught:
        _chat(client(rest, org.api_key), start_within="default")()
    assert caught.value.code == "upstream_error"
    sim.config = SimConfig(seed=7).with_tier("standard", error_rate=1.0, error_status=503)
    with pytest.raises(openai.InternalServerError) as server_error:
        _chat(client(rest, org.api_key), start_within="default")()
    assert server_error.value.status_code == 503
    assert server_error.value.code == "upstream_error"


def test_a_chat_stream_that_breaks_raises_in_the_sdk(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", drop_rate=1.0)
    stream = client(rest, org.api_key).chat.completions.create(
        model=OPENAI_MODEL, messages=HI, stream=True, extra_body={"start_within": "default"}
    )
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert caught.value.code == "upstream_stream_broken"
