"""A real simulator on a free port, and an httpx client pointed at it, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from flexgrpc.sim import SimConfig, Simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(seed=11)) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=15) as http:
        yield http
