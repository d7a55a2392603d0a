"""Shared set-up for benchmarks: a simulator process, a server process, a funded account.

Everything runs as separate processes on loopback (the server is measured as it is deployed),
with raised file-descriptor limits so thousands of concurrent streams fit.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key  # noqa: E402
from flexgrpc.accounts.store import AccountStore  # noqa: E402
from flexgrpc.db.engine import make_engine, make_sessionmaker  # noqa: E402
from flexgrpc.db.migrate import upgrade  # noqa: E402

_LISTEN = re.compile(r"listening on (?P<host>[^\s:]+):(?P<port>\d+)$")


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Proc:
    process: subprocess.Popen[str]
    port: int
    log: pathlib.Path

    def rss_kb(self) -> int:
        """Resident set size of the process, in KiB (from /proc)."""
        status = pathlib.Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1])  # type: ignore[index]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _spawn(argv: Sequence[str], env: dict[str, str], log: pathlib.Path, marker: str) -> Proc:
    process = subprocess.Popen(
        list(argv),
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        preexec_fn=raise_fd_limit,  # only raises a limit, before exec
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = _LISTEN.search(line.strip())
        if line.startswith(marker) and match:
            return Proc(process, int(match["port"]), log)
    process.kill()
    raise RuntimeError(f"{argv[:4]} did not start: {log.read_text()[-2000:]}")


@dataclass
class Stack:
    sim: Proc
    server: Proc
    api_key: str
    home: pathlib.Path

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim.port}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),)

    def configure_sim(self, config: dict[str, Any]) -> None:
        httpx.put(f"{self.sim_url}/_sim/config", json=config, timeout=10).raise_for_status()

    def reset_sim(self) -> None:
        httpx.post(f"{self.sim_url}/_sim/reset", timeout=10).raise_for_status()

    def sim_records(self) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.sim_url}/_sim/requests", timeout=60)
        reply.raise_for_status()
        data = reply.json()
        return list(data["requests"] if isinstance(data, dict) else data)

    def outcomes(self) -> list[dict[str, Any]]:
        """Every routing outcome the server logged so far (one per request)."""
        found = []
        for line in self.server.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("message") == "request routed":
                    found.append(entry["outcome"])
        return found


@contextlib.contextmanager
def stack(
    sim_args: Sequence[str] = (), server_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """A simulator and a server wired to it, plus an organization with keys for all providers."""
    home = pathlib.Path(tempfile.mkdtemp(prefix="flexgrpc-bench-"))
    python = sys.executable
    sim = _spawn(
        [python, "-m", "flexgrpc.cli", "simulate", "--port", "0", *sim_args],
        {},
        home / "sim.log",
        "simulator listening",
    )
    server: Proc | None = None
    try:
        url = f"sqlite:///{home / 'bench.db'}"
        secret = generate_encryption_key()
        upgrade(url)
        cipher = ProviderKeyCipher.from_setting(secret)
        store = AccountStore(make_sessionmaker(make_engine(url)), cipher)
        org = store.create_organization("bench")
        _, api_key = store.create_api_key(org.id)
        for provider, key in (("openai", "sk-bench-" + "0" * 32), ("gemini", "AIza" + "0" * 35),
                              ("anthropic", "sk-ant-bench-" + "0" * 24)):  # fmt: skip
            store.set_provider_key(org.id, provider, key)
        sim_url = f"http://127.0.0.1:{sim.port}"
        server = _spawn(
            [python, "-m", "flexgrpc.cli", "serve", "--grpc-port", "0"],
            {
                "FLEXGRPC_DATABASE_URL": url,
                "FLEXGRPC_ENCRYPTION_KEY": secret,
                "FLEXGRPC_OPENAI_BASE_URL": f"{sim_url}/v1",
                "FLEXGRPC_ANTHROPIC_BASE_URL": f"{sim_url}/v1",
                "FLEXGRPC_GEMINI_BASE_URL": f"{sim_url}/v1beta",
                "FLEXGRPC_LOG_LEVEL": "INFO",
                "FLEXGRPC_HTTP_PORT": "0",  # the REST shim on a free port: benches run side by side
                **(server_env or {}),
            },
            home / "server.log",
            "grpc listening",
        )
        yield Stack(sim, server, api_key, home)
    finally:
        if server is not None:
            server.stop()
        sim.stop()


def second_server(
    s: Stack, name: str, env: dict[str, str], argv: Sequence[str] | None = None
) -> tuple[Proc, int]:
    """Another server on ``s``'s database and simulator (its environment, plus ``env``); with
    its gRPC port and, read from its second line, its REST port. The caller stops it."""
    with open(f"/proc/{s.server.process.pid}/environ", "rb") as handle:
        pairs = handle.read().split(b"\0")
    found = dict(p.decode().split("=", 1) for p in pairs if b"=" in p)
    inherited = {k: v for k, v in found.items() if k.startswith("FLEXGRPC_")}
    command = argv or [sys.executable, "-m", "flexgrpc.cli", "serve", "--grpc-port", "0"]
    proc = _spawn(command, {**inherited, **env}, s.home / f"{name}.log", "grpc listening")
    assert proc.process.stdout is not None
    http_line = proc.process.stdout.readline().strip()
    return proc, int(http_line.rsplit(":", 1)[1])


def relay_floor(s: Stack) -> Proc:
    """bench/grpc_relay_floor.py on ``s``'s simulator; the caller stops it."""
    script = pathlib.Path(__file__).with_name("grpc_relay_floor.py")
    return _spawn([sys.executable, str(script), s.sim_url], {}, s.home / "floor.log",
                  "grpc listening")  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; ``nan`` for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]
