"""The upstream client against raw HTTP servers: what it does when a provider hangs up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from flexgrpc.domain import ProviderRoute, RouteJob, UpstreamTier
from flexgrpc.providers.openai import ResponsesAdapter
from flexgrpc.providers.upstream import UpstreamClient, UpstreamError, UpstreamStream
from tests.jobs import responses_job

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 0\r\n\r\n"


class HangUp:
    """Reads each request, then closes the connection without answering for the first
    ``hang_ups`` connections, and answers 200 on the others."""

    def __init__(self, hang_ups: int) -> None:
        self.hang_ups = hang_ups
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        self.requests.append(head + await reader.readexactly(length))
        if len(self.requests) > self.hang_ups:
            writer.write(OK)
            await writer.drain()
        writer.close()


@pytest.fixture
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[tuple[HangUp, UpstreamClient]]:
    hang_up = HangUp(request.param)
    server = await asyncio.start_server(hang_up.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = UpstreamClient({ProviderRoute.OPENAI: f"http://127.0.0.1:{port}/v1"})
    yield hang_up, client
    await client.aclose()
    server.close()
    await server.wait_closed()


JOB = responses_job()


async def open_stream(client: UpstreamClient) -> None:
    stream = await client.open(
        ResponsesAdapter(), JOB, UpstreamTier.FLEX, "sk-t", ProviderRoute.OPENAI
    )
    await stream.aclose()


@pytest.mark.parametrize("provider", [1], indirect=True)
async def test_a_hang_up_without_an_answer_is_sent_once_more(
    provider: tuple[HangUp, UpstreamClient],
) -> None:
    hang_up, client = provider
    await open_stream(client)
    first, second = hang_up.requests
    assert first == second
    assert b'"service_tier":"flex"' in second.replace(b" ", b"")


@pytest.mark.parametrize("provider", [5], indirect=True)
async def test_a_provider_that_keeps_hanging_up_is_unreachable_after_two_sends(
    provider: tuple[HangUp, UpstreamClient],
) -> None:
    hang_up, client = provider
    with pytest.raises(UpstreamError) as caught:
        await open_stream(client)
    assert caught.value.status is None
    assert caught.value.retryable
    assert len(hang_up.requests) == 2


async def test_a_whole_answer_waits_up_to_its_own_timeout_and_a_stream_up_to_the_idle_one() -> None:
    """A non-streamed answer sends nothing until generation is done, so the silence allowed
    between stream events does not apply to it; its own (longer) timeout does."""
    from flexgrpc.providers.upstream import Timeouts
    from flexgrpc.sim import SimConfig, run_in_thread

    config = SimConfig(seed=1).with_tier("standard", start_delay="fixed:600ms")
    job = responses_job(window_ms=None)
    with run_in_thread(config) as sim:
        patient = UpstreamClient(
            {ProviderRoute.OPENAI: f"{sim.url}/v1"}, Timeouts(idle=0.2, answer=5)
        )
        hasty = UpstreamClient(
            {ProviderRoute.OPENAI: f"{sim.url}/v1"}, Timeouts(idle=5, answer=0.2)
        )
        try:
            answer = await _standard_answer(patient, job)
            assert answer.reader.finished
            assert answer.reader.usage is not None
            with pytest.raises(UpstreamError, match="TimeoutError") as caught:
                await _standard_answer(hasty, job)
            assert caught.value.retryable
            # A stream, on the other hand, may not stay silent longer than the idle timeout.
            with pytest.raises(UpstreamError, match="TimeoutError"):
                await _standard_answer(patient, job, stream=True)
        finally:
            await patient.aclose()
            await hasty.aclose()
        assert [r.stream for r in sim.records] == [False, False, True]


async def _standard_answer(
    client: UpstreamClient, job: RouteJob, stream: bool = False
) -> UpstreamStream:
    """The standard tier's answer (its start, when ``stream``)."""
    answer = await client.open(
        ResponsesAdapter(), job, UpstreamTier.STANDARD, "sk-t", ProviderRoute.OPENAI, stream=stream
    )
    await answer.wait_for_start()
    return answer
