"""`flexgrpc demo` prints REST examples (curl and the openai SDK); each one works as printed."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time

from tests.serverproc import ROOT, start_server


def _commands(text: str) -> list[str]:
    """The printed shell commands that talk to the REST shim, continuation lines joined."""
    commands: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if current is None and stripped.startswith(("curl ", "OPENAI_BASE_URL=")):
            current = []
        if current is not None:
            current.append(stripped.removesuffix("\\").strip())
            if not stripped.endswith("\\"):
                commands.append(" ".join(current))
                current = None
    return commands


def test_the_demo_s_rest_examples_work_as_printed(tmp_path: pathlib.Path) -> None:
    server = start_server(
        tmp_path,
        {"FLEXGRPC_ENCRYPTION_KEY": ""},
        argv=[
            sys.executable, "-m", "flexgrpc.cli", "demo", "--grpc-port", "0", "--port", "0",
            "--flex-start-delay", "fixed:50ms",
        ],
    )  # fmt: skip
    try:
        text = ""
        deadline = time.monotonic() + 10
        while "Ctrl-C" not in text and time.monotonic() < deadline:
            assert server.process.stdout is not None
            text += server.process.stdout.readline()
        assert re.search(r"^http listening on 127\.0\.0\.1:\d+$", text, re.M)
        key = re.search(r"export FLEX_KEY=(flex_live_\w+)", text)
        assert key is not None
        chat, stream, sdk = _commands(text)
        env = {**os.environ, "FLEX_KEY": key[1]}
        outputs = [
            subprocess.run(
                ["bash", "-c", command],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
            ).stdout
            for command in (chat, stream, sdk)
        ]  # fmt: skip
        assert outputs[0].startswith("HTTP/1.1 200")
        assert "x-flexinference-tier: flex" in outputs[0]
        assert "event: message_stop" in outputs[1]
        assert outputs[2].strip()  # the answer's text
    finally:
        assert server.stop() == 0
