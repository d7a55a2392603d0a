"""A caller surface in front of another provider: the provider's own adapter and reader, the
caller's presenter, and the intermediate form between them.

``TranslatedAdapter(caller, native, upstream)`` keeps the native adapter for everything about
the upstream wire (path, auth, start detection, served tier, usage, capacity errors) and
translates twice: the caller's body into the native one, once, before the race
(``upstream_job``); the native answer into the caller's frames or body, as it arrives.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from flexgrpc.domain import RouteJob, UpstreamTier
from flexgrpc.errors import FlexError
from flexgrpc.providers.adapter import Adapter, UpstreamRequest
from flexgrpc.providers.presenting import CostView, Presenter
from flexgrpc.providers.reading import UpstreamReader
from flexgrpc.providers.sse import SseEvent, dumps
from flexgrpc.providers.translate.formats import CallerFormat, UpstreamFormat
from flexgrpc.providers.translate.ir import Inexpressible


def translate_request(
    caller: CallerFormat, upstream: UpstreamFormat, body: dict[str, Any]
) -> dict[str, Any]:
    """The caller's body as the provider's, through the intermediate form; ``FlexError``
    (``unsupported_feature`` naming the caller's field, or ``invalid_argument``) for what
    cannot be translated."""
    request = caller.read_request(body, target=upstream.target)
    try:
        return upstream.write_request(request)
    except Inexpressible as missing:
        where = caller.field_of(missing.feature)
        raise FlexError(
            "unsupported_feature",
            f"`{where}` has no equivalent for {upstream.target} models, reached here through "
            f"the {caller.name} surface: {missing.remedy}.",
            field=where,
        ) from None


class TranslatedAdapter(Adapter):
    translated = True

    def __init__(self, caller: CallerFormat, native: Adapter, upstream: UpstreamFormat) -> None:
        self._caller = caller
        self._native = native
        self._upstream = upstream
        self.provider = native.provider
        self.upstream = native.upstream
        self.path = native.path

    def upstream_job(self, job: RouteJob) -> RouteJob:
        return dataclasses.replace(
            job, body=translate_request(self._caller, self._upstream, job.body)
        )

    def build(
        self, job: RouteJob, tier: UpstreamTier, api_key: str, *, stream: bool = True
    ) -> UpstreamRequest:
        return self._native.build(job, tier, api_key, stream=stream)

    def answer_fields(self, body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        return self._native.answer_fields(body)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return self._native.auth_headers(api_key)

    def served_tier_header(self, headers: Mapping[str, str]) -> str | None:
        return self._native.served_tier_header(headers)

    def is_capacity_error(self, status: int, body: bytes) -> bool:
        return self._native.is_capacity_error(status, body)

    def reader(self, job: RouteJob) -> UpstreamReader:
        return self._native.reader(job)

    def presenter(self, job: RouteJob) -> Presenter:
        return TranslatedPresenter(self._caller, self._upstream, job)


class TranslatedPresenter(Presenter):
    """The provider's events, read into the intermediate form, as the caller's frames; the
    provider's whole answer as the caller's body."""

    def __init__(self, caller: CallerFormat, upstream: UpstreamFormat, job: RouteJob) -> None:
        self._caller = caller
        self._upstream = upstream
        self._model = job.model
        self._created = int(time.time())
        self._decoder = upstream.decoder()
        self._encoder = caller.encoder(model=job.model, body=job.body, created=self._created)

    def frames(self, event: SseEvent, cost: CostView | None) -> list[bytes]:
        return [
            frame
            for translated in self._decoder.feed(event)
            for frame in self._encoder.frames(translated, cost)
        ]

    def end_frames(self, cost: CostView | None) -> list[bytes]:
        return self._encoder.end(cost)

    def body(self, reader: UpstreamReader) -> bytes:
        answer = self._upstream.read_answer(reader.answer())
        body: dict[str, Any] = self._caller.answer_body(
            answer, model=self._model, created=self._created
        )
        return dumps(body)

    def error_frame(self, code: str, message: str) -> bytes:
        return self._encoder.error_frame(code, message)
