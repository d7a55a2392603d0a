"""`flexgrpc demo`: one command brings up the server and the simulator, ready to call."""

from __future__ import annotations

import base64
import json
import pathlib
import re
import subprocess
import sys
import time

import httpx

from tests.integration.test_grpcurl import GRPCURL
from tests.serverproc import start_server


def _the_printed_sign_in_link_opens_the_demo_dashboard(text: str) -> None:
    url = re.search(r"The dashboard .* is at (http://\S+/dashboard)", text)
    link = re.search(r"(http://\S+/dashboard/link/\S+)", text)
    assert url is not None
    assert link is not None
    with httpx.Client() as browser:
        page = browser.get(link[1])
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed_in = browser.post(link[1], data={"csrf_token": token[1]}, follow_redirects=True)
        assert signed_in.status_code == 200
        assert str(signed_in.url).startswith(url[1] + "/overview")
        assert "Demo organization" in signed_in.text
        # The link works once.
        again = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(link[1]).text)
        assert again is not None
        refused = browser.post(link[1], data={"csrf_token": again[1]})
        assert refused.status_code == 404
        assert "already used or has expired" in refused.text


def test_demo_answers_the_printed_grpcurl_command(tmp_path: pathlib.Path) -> None:
    key_file = tmp_path / "demo.key"
    server = start_server(
        tmp_path,
        {"FLEXGRPC_ENCRYPTION_KEY": ""},
        argv=[
            sys.executable, "-m", "flexgrpc.cli", "demo", "--grpc-port", "0", "--port", "0",
            "--key-file", str(key_file), "--flex-start-delay", "fixed:50ms",
        ],
    )  # fmt: skip
    try:
        assert server.stdout_lines[0].startswith("simulator listening on 127.0.0.1:")
        # The usage text follows the listen lines; read it and run its first grpcurl command.
        text = ""
        deadline = time.monotonic() + 10
        while "Ctrl-C" not in text and time.monotonic() < deadline:
            assert server.process.stdout is not None
            text += server.process.stdout.readline()
        api_key = key_file.read_text().strip()
        assert api_key.startswith("flex_live_")
        assert key_file.stat().st_mode & 0o077 == 0  # the key file is private
        assert f"export FLEX_KEY={api_key}" in text
        data = re.search(r'"data": "([A-Za-z0-9+/=]+)"', text)
        assert data is not None
        result = subprocess.run(
            [
                GRPCURL, "-plaintext", "-H", f"authorization: Bearer {api_key}",
                "-d", json.dumps({"body": {"contentType": "application/json", "data": data[1]}}),
                server.target, "flexinference.v1.RouteService/CreateResponse",
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        answer = json.loads(base64.b64decode(json.loads(result.stdout)["data"]))
        assert answer["service_tier"] == "flex"
        assert answer["status"] == "completed"
        _the_printed_sign_in_link_opens_the_demo_dashboard(text)
    finally:
        assert server.stop() == 0
