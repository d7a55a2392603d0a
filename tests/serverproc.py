"""Start the real ``flexgrpc serve`` in a subprocess on port 0 and find its port."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
LISTEN_LINE = re.compile(r"^grpc listening on (?P<host>[^\s:]+):(?P<port>\d+)$")


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    port: int
    stderr_path: pathlib.Path
    stdout_lines: list[str]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


def start_server(
    tmp: pathlib.Path,
    env: Mapping[str, str],
    argv: Sequence[str] | None = None,
    timeout: float = 30.0,
    *,
    new_session: bool = False,
) -> ServerProcess:
    """Run ``argv`` (default: ``flexgrpc serve --grpc-port 0``) and wait for its listen line.

    ``new_session``: in a process group of its own, so that ``os.killpg`` reaches the server
    and its workers at once (as a container's end does)."""
    command = list(argv or [sys.executable, "-m", "flexgrpc.cli", "serve", "--grpc-port", "0"])
    stderr_path = tmp / f"server-{time.monotonic_ns()}.log"
    # The REST shim listens too: on a free port unless the test says otherwise.
    full_env = {**os.environ, "FLEXGRPC_LOG_LEVEL": "DEBUG", "FLEXGRPC_HTTP_PORT": "0", **env}
    process = subprocess.Popen(
        command,
        cwd=tmp,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("w"),
        text=True,
        start_new_session=new_session,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        match = LISTEN_LINE.match(lines[-1])
        if match:
            return ServerProcess(process, int(match["port"]), stderr_path, lines)
    process.kill()
    raise RuntimeError(
        f"server did not start; stdout={lines!r} stderr={stderr_path.read_text()[-3000:]}"
    )
