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
import logging
import os
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flexinference.v1 import types_pb2

from flexgrpc.accounts.store import Principal
from flexgrpc.domain import Provider, RaceOutcome, RouteJob, ServedTier, Surface
from flexgrpc.errors import FlexError
from flexgrpc.pricing.money import NanoUSD, nano_to_micro
from flexgrpc.providers.base import Adapter
from flexgrpc.providers.upstream import StreamBroken, UpstreamError
from flexgrpc.routing.outcome import OutcomeObserver, OutcomeSink, RoutingOutcome
from flexgrpc.routing.race import FlexRace, RaceProgress, Settlement
from flexgrpc.routing.request import NO_FLEX_MODELS, FlexModels, parse_request

log = logging.getLogger("flexgrpc.router")

#: Request ids: 128 random bits each, from a generator seeded once from the OS. An id names a
#: request, it grants nothing, so it need not be unpredictable; a system call per request (as
#: uuid4 or os.urandom make) also gives the GIL away in the middle of the router's work.
_ids = random.Random(os.urandom(32))  # noqa: S311

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
    #: The request's record; its money is final when the answer is not streamed.
    record: RoutingOutcome


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


class InFlight:
    """How many requests the router is serving right now."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def alone(self) -> bool:
        """At most one request in flight: the caller's own."""
        return self.count <= 1


Pricer = Callable[[RoutingOutcome, Adapter], None]
#: Refuses a request before any upstream work (the billing 402 gate); raises ``FlexError``.
Gate = Callable[[str, RouteJob], Awaitable[None]]


async def open_gate(organization_id: str, job: RouteJob) -> None:
    """No gate: every request may proceed."""


def no_pricing(outcome: RoutingOutcome, adapter: Adapter) -> None:
    """Leave money fields empty (the model is treated as unpriced: no commission)."""


class Router:
    def __init__(
        self,
        race: FlexRace,
        adapters: Mapping[tuple[Surface, Provider], Adapter],
        provider_key: Callable[[str, str], Any],
        sink: OutcomeSink,
        *,
        observer: OutcomeObserver | None = None,
        pricer: Pricer = no_pricing,
        gate: Gate = open_gate,
        max_body_bytes: int = 1_000_000,
        in_flight: InFlight | None = None,
        flex_models: FlexModels = NO_FLEX_MODELS,
    ) -> None:
        self._race = race
        self._adapters = dict(adapters)
        self._provider_key = provider_key
        self._sink = sink
        #: Told of each outcome once the answer has been released (metrics, the access log):
        #: only the sink (the ledger) has to finish before the end of the answer.
        self._observer = observer
        self._pricer = pricer
        self._gate = gate
        self._max_body_bytes = max_body_bytes
        self.in_flight = in_flight or InFlight()
        #: Which models may race (the price catalog): validation asks it.
        self.flex_models = flex_models

    def route(
        self,
        surface: Surface,
        body: bytes,
        principal: Principal,
        controls: types_pb2.RoutingControls | None = None,
    ) -> AsyncGenerator[Part, None]:
        # The run's own generator, not one wrapped around it: each part of each answer would
        # pass through every wrapping generator level.
        return _Run(self, surface, principal).parts(body, controls)

    def _observe_later(self, record: RoutingOutcome) -> None:
        """Tell the observer in a callback of its own: a gRPC call's trailers (the end of its
        answer) go out only once the handler returns, so telling it here would make every
        caller wait for the access-log line (~0.1 ms)."""
        if self._observer is not None:
            asyncio.get_running_loop().call_soon(self._observe, record)

    def _observe(self, record: RoutingOutcome) -> None:
        assert self._observer is not None
        try:
            self._observer.observe(record)
        except Exception as exc:  # counting or logging must never break the server
            log.error("could not count or log a request", exc_info=exc)

    def adapter_for(self, job: RouteJob) -> Adapter:
        adapter = self._adapters.get((job.surface, job.provider))
        if adapter is None:
            raise FlexError(
                "unsupported_surface_pair",
                f"The {job.surface.value} surface cannot reach {job.provider.value} models yet.",
                field="model",
            )
        return adapter

    async def provider_key(self, principal: Principal, provider: Provider) -> str:
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


class _Run:
    """One request's journey; owns its record, which it stores exactly once.

    A completed answer's record is stored (durably, when the sink is the ledger) before the
    end of the answer is released: before the terminal event of a stream, before the body of
    a non-streamed answer. Any other ending stores it in ``finally``, where the observer (metrics,
    the access log) is told last, off the answer's path.
    """

    def __init__(self, router: Router, surface: Surface, principal: Principal) -> None:
        self.router = router
        self.principal = principal
        self.received_at = time.monotonic()
        self.request_id = f"req_{_ids.getrandbits(128):032x}"
        self.record = RoutingOutcome(
            request_id=self.request_id,
            organization_id=principal.organization_id,
            api_key_id=principal.api_key_id,
            surface=surface.value,
            create_time=dt.datetime.now(dt.UTC),
        )
        self.surface = surface
        self.progress = RaceProgress()
        self.settlement: Settlement | None = None
        self.adapter: Adapter | None = None
        self.priced = False
        self.stored = False
        #: The record is in the sink: what happens after (a caller leaving between the answer's
        #: end and the call's) no longer changes how the request ended.
        self.durable = False

    async def parts(
        self, body: bytes, controls: types_pb2.RoutingControls | None
    ) -> AsyncGenerator[Part, None]:
        record = self.record
        in_flight = self.router.in_flight
        in_flight.count += 1
        try:
            job = parse_request(
                self.surface,
                body,
                request_id=self.request_id,
                received_at=self.received_at,
                controls=controls,
                max_body_bytes=self.router._max_body_bytes,
                flex_models=self.router.flex_models,
            )
            record.describe_job(job)
            self.adapter = adapter = self.router.adapter_for(job)
            await self.router._gate(self.principal.organization_id, job)
            api_key = await self.router.provider_key(self.principal, job.provider)
            try:
                self.settlement = await self.router._race.settle(
                    job, adapter, api_key, self.progress
                )
            except UpstreamError as error:
                raise upstream_failure(error, job.provider) from error
            record.outcome = self.settlement.outcome
            record.time_to_start_ms = round(self.settlement.time_to_start_s * 1000)
            record.route = self.settlement.stream.route.value
            async for part in self._answer(job, adapter, self.settlement):
                yield part
            yield Completed(record)
        except FlexError as error:
            if not self.durable:
                record.outcome, record.error_code = RaceOutcome.FAILED, error.code
            raise
        except (asyncio.CancelledError, GeneratorExit):
            if not self.durable:
                record.outcome, record.error_code = RaceOutcome.CANCELED, "canceled"
            raise
        except BaseException:
            if not self.durable:
                record.outcome, record.error_code = RaceOutcome.FAILED, "internal_error"
            raise
        finally:
            in_flight.count -= 1
            if self.settlement is not None:
                await self.settlement.stream.aclose()
            if not self.stored:
                await asyncio.shield(self._store(raise_errors=False))
            self.router._observe_later(self.record)

    def _settled(self, job: RouteJob, adapter: Adapter, settlement: Settlement) -> Settled:
        tracker = settlement.stream.tracker
        return Settled(
            request_id=self.request_id,
            served_tier=adapter.normalise_tier(tracker.served_tier or ""),
            provider_service_tier=tracker.served_tier or "",
            outcome=settlement.outcome,
            flex_attempts=self.progress.flex_attempts,
            time_to_start_s=settlement.time_to_start_s,
            content_type="text/event-stream" if job.stream else "application/json",
            record=self.record,
        )

    async def _answer(
        self, job: RouteJob, adapter: Adapter, settlement: Settlement
    ) -> AsyncIterator[Settled | Chunk]:
        """``Settled`` then the answer. A streamed answer is announced as soon as it started
        (with the tier known then); a non-streamed one once it is whole and recorded, so that
        what is announced (tier, cost) is final.
        """
        stream = settlement.stream
        tracker = stream.tracker
        try:
            if job.stream:
                yield self._settled(job, adapter, settlement)
                async for event in stream.events():
                    if tracker.usage_final and not self.priced:
                        self._price()
                        if job.include_cost:
                            tracker.cost = self._cost()
                    frames = tracker.present(event)
                    if tracker.finished and not self.stored:
                        await self._store(raise_errors=True)  # before the terminal event
                    for frame in frames:
                        yield Chunk(frame)
                for frame in tracker.present_end():
                    yield Chunk(frame)
            else:
                async for _ in stream.events():
                    pass
                answer = tracker.present_body()
                await self._store(raise_errors=True)
                yield self._settled(job, adapter, settlement)
                yield Chunk(answer)
        except StreamBroken as broken:
            self.record.outcome = RaceOutcome.FAILED
            self.record.error_code = "upstream_stream_broken"
            message = f"The provider's answer broke off after it started: {broken.reason}."
            if job.stream and not broken.relayed:
                yield Chunk(tracker.error_frame(adapter, "upstream_stream_broken", message))
            raise FlexError(
                "upstream_error", message, metadata={"provider": job.provider.value}
            ) from broken

    def _cost(self) -> dict[str, Any]:
        """``usage.cost`` for a caller that asked for include_cost (SPEC §4)."""
        record = self.record
        total = nano_to_micro(NanoUSD(record.actual_nano_usd)) if record.priced else None
        return {"total_micro_usd": total, "currency": "USD"}

    def _price(self) -> None:
        """Read the served tier and usage off the stream and price the request (once)."""
        self.priced = True
        if self.settlement is None or self.adapter is None:
            return
        record, tracker = self.record, self.settlement.stream.tracker
        record.provider_service_tier = tracker.served_tier or ""
        record.served_tier = self.adapter.normalise_tier(tracker.served_tier or "")
        record.usage = tracker.usage
        self.router._pricer(record, self.adapter)

    def _finalise(self) -> None:
        """Fill the record from what the upstream stream reported, and price it."""
        record, progress = self.record, self.progress
        record.flex_attempts = progress.flex_attempts
        if progress.fell_back_at is not None:
            record.fallback_after_ms = (progress.fell_back_at - self.received_at) * 1000
        if not self.priced:
            self._price()
        record.complete_time = dt.datetime.now(dt.UTC)

    async def _store(self, *, raise_errors: bool) -> None:
        self.stored = True
        self._finalise()
        try:
            await self.router._sink.record(self.record)
            self.durable = True
        except Exception as exc:
            log.error("could not store the record of %s", self.request_id, exc_info=exc)
            if raise_errors:
                raise FlexError(
                    "internal_error",
                    "The answer could not be recorded, so it was not completed; retry it.",
                ) from exc
