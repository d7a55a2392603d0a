"""One request from receipt to its record: validate, find the key, race, relay, record.

``Router.route`` yields the parts of an answer in order — ``Settled`` once (the race has
committed to a tier; nothing was sent before), then ``Chunk``s (the caller's bytes), then
``Completed`` — and raises ``FlexError`` for a failure before the race settled. Every request
leaves exactly one ``RequestRecord`` in the sink, success, failure or cancellation, except one
refused at the door for its organization's request rate (like one refused at authentication).
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
from dataclasses import dataclass, field

from flexinference.v1 import types_pb2

from flexgrpc import tracing
from flexgrpc.accounts.limiters import Limiters
from flexgrpc.accounts.limits import OnExceed
from flexgrpc.accounts.race_slots import Lease
from flexgrpc.accounts.store import Principal
from flexgrpc.domain import (
    NO_TOKENS,
    UNPRICED,
    Cost,
    FallbackReason,
    Provider,
    RaceOutcome,
    RequestRecord,
    RouteJob,
    ServedTier,
    StartWithinSource,
    Surface,
    TokenCounts,
)
from flexgrpc.errors import FlexError
from flexgrpc.pricing.money import NanoUSD, nano_to_micro
from flexgrpc.pricing.usage import normalise_usage, usage_format_for
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.presenting import CostView, Presenter
from flexgrpc.providers.upstream import StreamBroken, UpstreamError
from flexgrpc.routing.race import FlexRace, RaceProgress, Settlement
from flexgrpc.routing.recording import RecordObserver, RecordSink
from flexgrpc.routing.request import NO_FLEX_MODELS, FlexModels, parse_request

log = logging.getLogger("flexgrpc.router")

#: Request ids: 128 random bits each, from a generator seeded once from the OS. An id names a
#: request, it grants nothing, so it need not be unpredictable; a system call per request (as
#: uuid4 or os.urandom make) also gives the GIL away in the middle of the router's work.
_ids = random.Random(os.urandom(32))  # noqa: S311

#: Every answer says how many times the router re-sent the request (errors in their trailers).
RETRIES_METADATA = "x-flexinference-retries"

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
    #: Where ``start_within`` came from, and how many times the settled tier was asked again.
    start_within_source: StartWithinSource
    retries: int
    #: The request's cost, final when the answer is not streamed (``None`` for a stream: it is
    #: known only at the stream's end).
    cost: Cost | None


@dataclass(frozen=True)
class Chunk:
    """The caller's bytes: one event, or every event that had arrived together (whole events,
    in order; an event is never held back for a later one)."""

    data: bytes


@dataclass(frozen=True)
class Completed:
    record: RequestRecord


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


#: Prices a request: (job, served tier, token counts, the UTC day of receipt) -> its cost.
Pricer = Callable[[RouteJob, ServedTier, TokenCounts, dt.date], Cost]
#: Refuses a request before any upstream work (the billing 402 gate); raises ``FlexError``.
Gate = Callable[[str, RouteJob], Awaitable[None]]
#: The organization's key for a provider, or ``None`` when it has none on file.
ProviderKeys = Callable[[str, str], Awaitable[str | None]]


async def open_gate(organization_id: str, job: RouteJob) -> None:
    """No gate: every request may proceed."""


def no_pricing(job: RouteJob, served: ServedTier, tokens: TokenCounts, on: dt.date) -> Cost:
    """Every request unpriced (no commission)."""
    return UNPRICED


@dataclass(frozen=True)
class RouterServices:
    """What each request's run works with (built once, by the ``Router``)."""

    race: FlexRace
    adapters: Mapping[tuple[Surface, Provider], Adapter]
    provider_keys: ProviderKeys
    sink: RecordSink
    pricer: Pricer
    gate: Gate
    max_body_bytes: int
    in_flight: InFlight
    #: Which models may run the flex race (the server's price catalog).
    flex_models: FlexModels = NO_FLEX_MODELS
    #: Told of each record once the answer has been released (metrics, the access log): only
    #: the sink (the ledger) has to finish before the end of the answer.
    observer: RecordObserver | None = None
    #: Each organization's request rate and flex race slots.
    limiters: Limiters = field(default_factory=Limiters)

    def adapter_for(self, job: RouteJob) -> Adapter:
        adapter = self.adapters.get((job.surface, job.provider))
        if adapter is None:
            raise FlexError(
                "unsupported_surface_pair",
                f"The {job.surface.value} surface cannot reach {job.provider.value} models yet.",
                field="model",
            )
        return adapter

    async def provider_key(self, principal: Principal, provider: Provider) -> str:
        key = await self.provider_keys(principal.organization_id, provider.value)
        if key is None:
            code, name = _NO_KEY[provider]
            raise FlexError(
                code,
                f"This organization has no {name} key on file (bring your own key). An operator "
                f"stores one with `flexgrpc provider-key set ORG {provider.value}`.",
                field="model",
            )
        return str(key)

    def observe_later(self, record: RequestRecord) -> None:
        """Tell the observer in a callback of its own: a gRPC call's trailers (the end of its
        answer) go out only once the handler returns, so telling it here would make every
        caller wait for the access-log line (~0.1 ms)."""
        if self.observer is not None:
            asyncio.get_running_loop().call_soon(self._observe, record)

    def _observe(self, record: RequestRecord) -> None:
        assert self.observer is not None
        try:
            self.observer.observe(record)
        except Exception as exc:  # counting or logging must never break the server
            log.error("could not count or log a request", exc_info=exc)


class Router:
    def __init__(
        self,
        race: FlexRace,
        adapters: Mapping[tuple[Surface, Provider], Adapter],
        provider_keys: ProviderKeys,
        sink: RecordSink,
        *,
        observer: RecordObserver | None = None,
        pricer: Pricer = no_pricing,
        gate: Gate = open_gate,
        max_body_bytes: int = 1_000_000,
        in_flight: InFlight | None = None,
        flex_models: FlexModels = NO_FLEX_MODELS,
        limiters: Limiters | None = None,
    ) -> None:
        self.in_flight = in_flight or InFlight()
        self._services = RouterServices(
            race=race,
            adapters=dict(adapters),
            provider_keys=provider_keys,
            sink=sink,
            pricer=pricer,
            gate=gate,
            max_body_bytes=max_body_bytes,
            in_flight=self.in_flight,
            flex_models=flex_models,
            observer=observer,
            limiters=limiters or Limiters(),
        )

    async def provider_key(self, principal: Principal, provider: Provider) -> str:
        """The organization's key for ``provider`` (``FlexError`` when it has none)."""
        return await self._services.provider_key(principal, provider)

    def route(
        self,
        surface: Surface,
        body: bytes,
        principal: Principal,
        controls: types_pb2.RoutingControls | None = None,
        header_start_within: str | None = None,
    ) -> AsyncGenerator[Part, None]:
        """The parts of one answer. ``header_start_within`` is the ``x-flexinference-start-within``
        header (gRPC metadata); the principal's key may carry a default ``start_within``."""
        # The run's own generator, not one wrapped around it: each part of each answer would
        # pass through every wrapping generator level.
        return _Run(self._services, surface, principal).parts(body, controls, header_start_within)


def cost_view(cost: Cost) -> CostView:
    """``usage.cost`` for a caller that asked for include_cost (SPEC §4)."""
    total = (
        nano_to_micro(NanoUSD(cost.actual_nano_usd)) if cost.actual_nano_usd is not None else None
    )
    return {"total_micro_usd": total, "currency": "USD"}


class _Run:
    """One request's journey. It keeps typed state as it goes and builds the request's one
    ``RequestRecord`` when the request ends, which it stores exactly once.

    A completed answer's record is stored (durably, when the sink is the ledger) before the
    end of the answer is released: before the terminal event of a stream, before the body of
    a non-streamed answer. Any other ending stores it in ``finally``, where the observer (metrics,
    the access log) is told last, off the answer's path.
    """

    def __init__(self, services: RouterServices, surface: Surface, principal: Principal) -> None:
        self.services = services
        self.principal = principal
        self.surface = surface
        self.received_at = time.monotonic()
        self.create_time = dt.datetime.now(dt.UTC)
        self.request_id = f"req_{_ids.getrandbits(128):032x}"
        self.progress = RaceProgress()
        self.job: RouteJob | None = None
        self.adapter: Adapter | None = None
        self.settlement: Settlement | None = None
        self.outcome = RaceOutcome.FAILED
        self.error_code = ""
        #: Read off the upstream answer once its usage is final (or when the record is built).
        self.provider_tier = ""
        self.served = ServedTier.UNKNOWN
        self.tokens = NO_TOKENS
        self.cost: Cost | None = None
        #: Built once, when the request ends; set once it is handed to the sink.
        self.record: RequestRecord | None = None
        #: The record is in the sink: what happens after (a caller leaving between the answer's
        #: end and the call's) no longer changes how the request ended.
        self.durable = False
        #: The request's span (``None`` when tracing is off); its steps are its children.
        self.span = tracing.start("route")

    async def parts(
        self, body: bytes, controls: types_pb2.RoutingControls | None, header: str | None
    ) -> AsyncGenerator[Part, None]:
        services = self.services
        # Before anything else, and outside the record's try: a request refused for its rate
        # leaves no record (as one refused at authentication), so a flood costs no writes.
        try:
            await services.limiters.rate.admit(
                self.principal.organization_id, self.principal.limits
            )
        except FlexError as refused:
            tracing.finish(self.span, error=refused.code)
            raise
        in_flight = services.in_flight
        in_flight.count += 1
        try:
            self.job = job = parse_request(
                self.surface,
                body,
                request_id=self.request_id,
                received_at=self.received_at,
                controls=controls,
                header_start_within=header,
                key_start_within=self.principal.default_start_within,
                max_body_bytes=services.max_body_bytes,
                flex_models=services.flex_models,
            )
            self.adapter = adapter = services.adapter_for(job)
            await services.gate(self.principal.organization_id, job)
            api_key = await services.provider_key(self.principal, job.provider)
            with tracing.within(self.span):  # the race's spans are the request's children
                self.settlement = await self._settle(job, adapter, api_key)
            self.outcome = self.settlement.outcome
            async for part in self._answer(job, adapter, self.settlement):
                yield part
            assert self.record is not None  # stored before the answer's end
            yield Completed(self.record)
        except FlexError as error:
            self._end(RaceOutcome.FAILED, error.code)
            error.answer_metadata = ((RETRIES_METADATA, str(self.progress.retries)),)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            self._end(RaceOutcome.CANCELED, "canceled")
            raise
        except BaseException:
            self._end(RaceOutcome.FAILED, "internal_error")
            raise
        finally:
            in_flight.count -= 1
            if self.settlement is not None:
                await self.settlement.stream.aclose()
            if self.record is None:
                await asyncio.shield(self._store(raise_errors=False))
            assert self.record is not None
            services.observe_later(self.record)
            if self.span is not None:
                self._finish_span(self.record)

    def _upstream_job(self, job: RouteJob, adapter: Adapter) -> RouteJob:
        if not adapter.translated:
            return adapter.upstream_job(job)
        with tracing.leaf("translate.request", self.span):
            return adapter.upstream_job(job)

    def _finish_span(self, record: RequestRecord) -> None:
        tracing.finish(
            self.span,
            error=record.error_code,
            **{
                "flexgrpc.request_id": record.request_id,
                "flexgrpc.organization_id": record.organization_id,
                "flexgrpc.surface": record.surface.value,
                "flexgrpc.model": record.model,
                "flexgrpc.outcome": record.outcome.value,
                "flexgrpc.served_tier": record.served_tier.value,
                "flexgrpc.flex_attempts": record.flex_attempts,
            },
        )

    async def _settle(self, job: RouteJob, adapter: Adapter, api_key: str) -> Settlement:
        """The race (holding one of the organization's flex race slots while it runs), or the
        fixed-tier dispatch."""
        upstream_job = self._upstream_job(job, adapter)
        lease, skip_race = await self._race_slot(job)
        try:
            return await self.services.race.settle(
                upstream_job, adapter, api_key, self.progress, skip_race=skip_race
            )
        except UpstreamError as error:
            raise upstream_failure(error, job.provider) from error
        finally:
            if lease is not None:
                # Shielded: a caller that leaves now must not leave the slot taken until its
                # lease ends.
                await asyncio.shield(self.services.limiters.race_slots.release(lease))

    async def _race_slot(self, job: RouteJob) -> tuple[Lease | None, FallbackReason | None]:
        """A slot for a race of a capped organization; with none free, the race is refused
        or (``degrade_to_standard``) goes to standard at once."""
        limits = self.principal.limits
        window_ms = job.start_within.window_ms
        if window_ms is None or limits.flex_race_slots <= 0:
            return None, None
        lease = await self.services.limiters.race_slots.acquire(
            self.principal.organization_id, self.request_id, limits, window_ms
        )
        if lease is not None:
            return lease, None
        if limits.on_exceed is OnExceed.DEGRADE_TO_STANDARD:
            return None, FallbackReason.FLEX_RACE_SLOTS
        raise FlexError(
            "flex_race_slots_exhausted",
            f"This organization may run {limits.flex_race_slots} flex races at once, and that "
            "many are running; retry after 1 s, send this request on a fixed tier "
            "(start_within `default`), or set the organization's "
            "flex_race_slots_on_exceed to `degrade_to_standard` to have such races served on "
            "standard at once.",
            retry_after_s=1,
            metadata={"flex_race_slots": str(limits.flex_race_slots)},
        )

    def _end(self, outcome: RaceOutcome, code: str) -> None:
        if not self.durable:
            self.outcome, self.error_code = outcome, code

    async def _answer(
        self, job: RouteJob, adapter: Adapter, settlement: Settlement
    ) -> AsyncIterator[Settled | Chunk]:
        """``Settled`` then the answer. A streamed answer is announced as soon as it started
        (with the tier known then); a non-streamed one once it is whole and recorded, so that
        what is announced (tier, cost) is final.
        """
        stream = settlement.stream
        reader = stream.reader
        presenter = adapter.presenter(job)
        # A native answer is relayed as it came: only a translation is a step worth a span.
        relay = tracing.start_under("translate.answer", self.span) if adapter.translated else None
        #: Frames of events that arrived together, sent as one chunk once no further event
        #: is already here (none waits for a later one).
        pending: list[bytes] = []
        try:
            if job.stream:
                yield self._settled(job, adapter, settlement, cost=None)
                async for chunk in self._relay(job, adapter, settlement, presenter, pending):
                    yield chunk
            else:
                async for _ in stream.events():
                    pass
                answer = presenter.body(reader)
                await self._store(raise_errors=True)
                yield self._settled(job, adapter, settlement, cost=self.cost)
                yield Chunk(answer)
        except StreamBroken as broken:
            self.outcome, self.error_code = RaceOutcome.FAILED, "upstream_stream_broken"
            message = f"The provider's answer broke off after it started: {broken.reason}."
            if job.stream and not broken.relayed:
                pending.append(presenter.error_frame("upstream_stream_broken", message))
            if pending:
                yield Chunk(b"".join(pending))
            raise FlexError(
                "upstream_error", message, metadata={"provider": job.provider.value}
            ) from broken
        finally:
            tracing.finish(relay)

    async def _relay(
        self,
        job: RouteJob,
        adapter: Adapter,
        settlement: Settlement,
        presenter: Presenter,
        pending: list[bytes],
    ) -> AsyncIterator[Chunk]:
        """A streamed answer's events as the caller's frames; ``pending`` holds those not
        sent yet (the caller's, so that a break can still send them)."""
        stream = settlement.stream
        reader = stream.reader
        async for event in stream.events():
            if reader.usage_final and self.cost is None:
                self._price(job, adapter, settlement)
            frames = presenter.frames(event, self._shown_cost(job))
            if reader.finished and self.record is None:
                if pending:  # what came before the end does not wait for the commit
                    yield Chunk(b"".join(pending))
                    pending.clear()
                try:
                    await self._store(raise_errors=True)  # before the terminal event
                except FlexError as unrecorded:
                    # Ended like a broken stream: an answer without its record must not
                    # look complete to the caller.
                    yield Chunk(presenter.error_frame(unrecorded.code, unrecorded.message))
                    raise
            pending += frames
            if pending and not stream.ready():
                yield Chunk(b"".join(pending))
                pending.clear()
        pending += presenter.end_frames(self._shown_cost(job))
        if pending:
            yield Chunk(b"".join(pending))
            pending.clear()

    def _settled(
        self, job: RouteJob, adapter: Adapter, settlement: Settlement, cost: Cost | None
    ) -> Settled:
        reported = settlement.stream.reader.served_tier or ""
        return Settled(
            request_id=self.request_id,
            served_tier=adapter.normalise_tier(reported),
            provider_service_tier=reported,
            outcome=settlement.outcome,
            flex_attempts=self.progress.flex_attempts,
            time_to_start_s=settlement.time_to_start_s,
            content_type="text/event-stream" if job.stream else "application/json",
            cost=cost,
            start_within_source=job.start_within_source,
            retries=self.progress.retries,
        )

    def _shown_cost(self, job: RouteJob) -> CostView | None:
        return cost_view(self.cost) if job.include_cost and self.cost is not None else None

    def _price(self, job: RouteJob, adapter: Adapter, settlement: Settlement) -> None:
        """Read the served tier and usage off the upstream answer and price it (once)."""
        with tracing.leaf("price", self.span):
            self._price_untraced(job, adapter, settlement)

    def _price_untraced(self, job: RouteJob, adapter: Adapter, settlement: Settlement) -> None:
        reader = settlement.stream.reader
        self.provider_tier = reader.served_tier or ""
        self.served = adapter.normalise_tier(self.provider_tier)
        self.tokens = normalise_usage(
            usage_format_for(job.provider, adapter.upstream), reader.usage
        )
        self.cost = self.services.pricer(job, self.served, self.tokens, self.create_time.date())

    def _build_record(self) -> RequestRecord:
        job, settlement, adapter = self.job, self.settlement, self.adapter
        if self.cost is None and job is not None and adapter is not None and settlement is not None:
            self._price(job, adapter, settlement)
        progress = self.progress
        fallback_after_ms = None
        if progress.fell_back_at is not None:
            fallback_after_ms = (progress.fell_back_at - self.received_at) * 1000
        return RequestRecord(
            request_id=self.request_id,
            organization_id=self.principal.organization_id,
            api_key_id=self.principal.api_key_id,
            surface=self.surface,
            create_time=self.create_time,
            complete_time=dt.datetime.now(dt.UTC),
            outcome=self.outcome,
            model=job.model if job is not None else "",
            provider=job.provider if job is not None else None,
            route=(
                settlement.stream.route
                if settlement is not None
                else job.routes[0]
                if job is not None
                else None
            ),
            requested=job.start_within if job is not None else None,
            start_within_source=job.start_within_source if job is not None else None,
            retries=progress.retries,
            served_tier=self.served,
            provider_service_tier=self.provider_tier,
            flex_attempts=progress.flex_attempts,
            time_to_start_ms=(
                round(settlement.time_to_start_s * 1000) if settlement is not None else None
            ),
            fallback_after_ms=fallback_after_ms,
            fallback_reason=progress.fallback_reason,
            tokens=self.tokens,
            cost=self.cost or UNPRICED,
            error_code=self.error_code,
        )

    async def _store(self, *, raise_errors: bool) -> None:
        self.record = record = self._build_record()
        try:
            with tracing.leaf("ledger.commit", self.span):
                await self.services.sink.record(record)
            self.durable = True
        except Exception as exc:
            log.error("could not store the record of %s", self.request_id, exc_info=exc)
            if raise_errors:
                # The ledger cannot write (disk full, read-only, unreachable): the service is
                # unavailable for routing until it can, which health reports too.
                raise FlexError(
                    "unavailable",
                    "The answer could not be recorded in the usage ledger, so it was not "
                    "completed; retry it.",
                ) from exc
