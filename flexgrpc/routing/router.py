"""One request from receipt to its record: validate, find the key, race, relay, record.

``Router.route`` yields the parts of an answer in order — ``Settled`` once (the race has
committed to a tier; nothing was sent before), then ``Chunk``s (the caller's bytes), then
``Completed`` — and raises ``FlexError`` for a failure before the race settled. Every request
leaves exactly one ``RoutingOutcome`` in the sink, success, failure or cancellation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flexinference.v1 import types_pb2

from flexgrpc.accounts.store import Principal
from flexgrpc.errors import FlexError
from flexgrpc.providers.base import Adapter, ServedTier
from flexgrpc.providers.upstream import StreamBroken, UpstreamError
from flexgrpc.routing.job import Provider, RouteJob, Surface
from flexgrpc.routing.outcome import OutcomeSink, RoutingOutcome
from flexgrpc.routing.race import FlexRace, RaceOutcome, RaceProgress, Settlement
from flexgrpc.routing.request import parse_request

_NO_KEY = {
    Provider.OPENAI: ("no_byok_key", "OpenAI"),
    Provider.GEMINI: ("no_gemini_key", "Gemini"),
    Provider.ANTHROPIC: ("no_anthropic_key", "Anthropic"),
}


@dataclass(frozen=True)
class Settled:
    request_id: str
    served_tier: ServedTier
    provider_service_tier: str
    outcome: RaceOutcome
    flex_attempts: int
    time_to_start_s: float
    content_type: str


@dataclass(frozen=True)
class Chunk:
    data: bytes


@dataclass(frozen=True)
class Completed:
    outcome: RoutingOutcome


Part = Settled | Chunk | Completed


def upstream_failure(error: UpstreamError, provider: Provider) -> FlexError:
    """The provider's refusal, kept at the provider's status, as a domain error."""
    message = error.reason
    provider_code = ""
    try:
        payload = json.loads(error.body) if error.body else {}
        detail = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(detail, dict):
            message = str(detail.get("message") or message)
            provider_code = str(
                detail.get("code") or detail.get("type") or detail.get("status") or ""
            )
    except ValueError:
        pass
    metadata = {"provider": provider.value}
    if error.status is not None:
        metadata["http_status"] = str(error.status)
    if provider_code:
        metadata["provider_code"] = provider_code
    return FlexError(
        "upstream_error",
        f"{provider.value} answered: {message[:500]}",
        metadata=metadata,
        http_status=error.status or 502,
    )


class Router:
    def __init__(
        self,
        race: FlexRace,
        adapters: Mapping[tuple[Surface, Provider], Adapter],
        provider_key: Callable[[str, str], Any],
        sink: OutcomeSink,
        *,
        max_body_bytes: int = 1_000_000,
    ) -> None:
        self._race = race
        self._adapters = dict(adapters)
        self._provider_key = provider_key
        self._sink = sink
        self._max_body_bytes = max_body_bytes

    async def route(
        self,
        surface: Surface,
        body: bytes,
        principal: Principal,
        controls: types_pb2.RoutingControls | None = None,
    ) -> AsyncGenerator[Part, None]:
        received_at = time.monotonic()
        request_id = f"req_{uuid.uuid4().hex}"
        record = RoutingOutcome(
            request_id=request_id,
            organization_id=principal.organization_id,
            api_key_id=principal.api_key_id,
            surface=surface.value,
            create_time=dt.datetime.now(dt.UTC),
        )
        progress = RaceProgress()
        settlement: Settlement | None = None
        try:
            job = parse_request(
                surface,
                body,
                request_id=request_id,
                received_at=received_at,
                controls=controls,
                max_body_bytes=self._max_body_bytes,
            )
            record.describe_job(job)
            adapter = self._adapter(job)
            api_key = await self._key(principal, job.provider)
            try:
                settlement = await self._race.settle(job, adapter, api_key, progress)
            except UpstreamError as error:
                raise upstream_failure(error, job.provider) from error
            stream = settlement.stream
            tracker = stream.tracker
            record.outcome = settlement.outcome
            record.time_to_start_ms = round(settlement.time_to_start_s * 1000)
            record.route = stream.route.value

            def settled() -> Settled:
                return Settled(
                    request_id=request_id,
                    served_tier=adapter.normalise_tier(tracker.served_tier or ""),
                    provider_service_tier=tracker.served_tier or "",
                    outcome=settlement.outcome,
                    flex_attempts=progress.flex_attempts,
                    time_to_start_s=settlement.time_to_start_s,
                    content_type="text/event-stream" if job.stream else "application/json",
                )

            async for part in self._relay(job, adapter, settlement, record, settled):
                yield part
            record.complete_time = dt.datetime.now(dt.UTC)
            record.flex_attempts = progress.flex_attempts
            yield Completed(record)
        except FlexError as error:
            record.outcome, record.error_code = RaceOutcome.FAILED, error.code
            raise
        except (asyncio.CancelledError, GeneratorExit):
            record.outcome, record.error_code = RaceOutcome.CANCELED, "canceled"
            raise
        except BaseException:
            record.outcome, record.error_code = RaceOutcome.FAILED, "internal_error"
            raise
        finally:
            if settlement is not None:
                await settlement.stream.aclose()
            record.flex_attempts = progress.flex_attempts
            if progress.fell_back_at is not None:
                record.fallback_after_ms = (progress.fell_back_at - received_at) * 1000
            record.complete_time = record.complete_time or dt.datetime.now(dt.UTC)
            await asyncio.shield(self._sink.record(record))

    def _adapter(self, job: RouteJob) -> Adapter:
        adapter = self._adapters.get((job.surface, job.provider))
        if adapter is None:
            raise FlexError(
                "unsupported_surface_pair",
                f"The {job.surface.value} surface cannot reach {job.provider.value} models yet.",
                field="model",
            )
        return adapter

    async def _key(self, principal: Principal, provider: Provider) -> str:
        key = await self._provider_key(principal.organization_id, provider.value)
        if key is None:
            code, name = _NO_KEY[provider]
            raise FlexError(
                code,
                f"This organization has no {name} key on file (bring your own key). An operator "
                f"stores one with `flexgrpc provider-key set ORG {provider.value}`.",
                field="model",
            )
        return str(key)

    async def _relay(
        self,
        job: RouteJob,
        adapter: Adapter,
        settlement: Settlement,
        record: RoutingOutcome,
        settled: Callable[[], Settled],
    ) -> AsyncIterator[Settled | Chunk]:
        """``Settled`` then the answer. A streamed answer is announced as soon as it started
        (with the tier known then); a non-streamed one once it is whole, so that what is
        announced (tier, and cost once priced) is final.
        """
        stream = settlement.stream
        tracker = stream.tracker
        try:
            if job.stream:
                yield settled()
                async for event in stream.events():
                    for frame in tracker.present(event):
                        yield Chunk(frame)
                for frame in tracker.present_end():
                    yield Chunk(frame)
            else:
                async for _ in stream.events():
                    pass
                answer = json.dumps(tracker.present_result(), ensure_ascii=False)
                yield settled()
                yield Chunk(answer.encode())
        except StreamBroken as broken:
            record.outcome, record.error_code = RaceOutcome.FAILED, "upstream_stream_broken"
            message = f"The provider's answer broke off after it started: {broken.reason}."
            if job.stream and not broken.relayed:
                yield Chunk(tracker.error_frame(adapter, "upstream_stream_broken", message))
            raise FlexError(
                "upstream_error", message, metadata={"provider": job.provider.value}
            ) from broken
        finally:
            record.provider_service_tier = tracker.served_tier or ""
            record.served_tier = adapter.normalise_tier(tracker.served_tier or "")
            record.usage = tracker.usage
