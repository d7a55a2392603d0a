"""`flexgrpc demo`: one command brings up the server and the simulator, ready to call."""

from __future__ import annotations

import base64
import json
import pathlib
import re
import subprocess
import sys
import time

from tests.integration.test_grpcurl import GRPCURL
from tests.serverproc import start_server


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
    finally:
        assert server.stop() == 0
