"""Redis for tests: the shared one (``FLEXGRPC_TEST_REDIS_URL``) under a prefix of the test's
own, or a private ``redis-server`` on a free port that a test may stop (Redis going away)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

REDIS_URL_ENV = "FLEXGRPC_TEST_REDIS_URL"


def shared_redis_url() -> str:
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        pytest.skip(f"{REDIS_URL_ENV} is not set (e.g. redis://127.0.0.1:6379/0)")
    return url


def unique_prefix() -> str:
    """Keys of one test only: the shared Redis serves other test runs at the same time."""
    return f"flexgrpc-test:{uuid.uuid4().hex[:12]}:"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateRedis:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def stop(self) -> None:
        """Redis goes away: the process ends and its port refuses connections."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_private_redis() -> PrivateRedis:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    private = PrivateRedis(process, port)
    deadline = time.monotonic() + 10
    while True:
        try:
            private.client().ping()
            return private
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                private.stop()
                raise
            time.sleep(0.02)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    private = start_private_redis()
    yield private
    private.stop()
