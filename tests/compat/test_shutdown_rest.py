"""SIGTERM drains REST requests in flight like gRPC calls, then the process exits 0."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from flexgrpc.sim import SimConfig, SimulatorThread
from tests.compat.conftest import OPENAI_MODEL, new_org, open_store, server_env, start_rest_server


def test_sigterm_lets_a_streamed_rest_answer_finish(
    tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", token_rate=10.0, output_tokens=20)
    home = tmp_path_factory.mktemp("drain")
    env = server_env(home, sim, FLEXGRPC_SHUTDOWN_GRACE_S="20")
    org = new_org(open_store(env))
    process, port = start_rest_server(home, env)
    url = f"http://127.0.0.1:{port}"
    body = {
        "model": OPENAI_MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "start_within": "default",
    }
    headers = {"authorization": f"Bearer {org.api_key}"}
    try:
        with (
            httpx.Client(timeout=30) as http,
            http.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as reply,
        ):
            assert reply.status_code == 200
            process.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(httpx.TransportError):  # the listener is closed while draining
                httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=5)
            streamed = reply.read()
        assert streamed.endswith(b"data: [DONE]\n\n")
        assert process.process.wait(30) == 0
    finally:
        process.stop()
