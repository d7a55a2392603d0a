"""An adapter binds one caller surface to one provider: how the upstream request is built, which
``UpstreamReader`` reads the provider's answer, and which ``Presenter`` shows it to the caller.

A native pair (Responses to OpenAI, say) reads and presents the same wire format; a translated
pair (Chat Completions to Claude) is visibly the provider's own reader plus the caller's
presenter (``flexgrpc.providers.translated``). An adapter does no I/O of its own.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from flexgrpc.domain import (
    Provider,
    RouteJob,
    ServedTier,
    Surface,
    UpstreamTier,
    served_tier,
    service_tier_value,
)
from flexgrpc.providers.presenting import Presenter
from flexgrpc.providers.reading import UpstreamReader


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class Adapter(abc.ABC):
    """One (caller surface, provider) pair."""

    #: The caller's surface is not the provider's: requests and answers are translated.
    translated = False

    provider: Provider
    #: The caller's surface.
    surface: Surface
    #: The provider API spoken upstream (decides the wire format of answers and usage).
    upstream: Surface
    path: str

    def tier_value(self, tier: UpstreamTier) -> str:
        """The provider's ``service_tier`` value for ``tier`` (the domain's one table)."""
        return service_tier_value(self.provider, tier)

    def normalise_tier(self, provider_tier: str) -> ServedTier:
        """The router's name for the tier the provider reported."""
        return served_tier(self.provider, provider_tier)

    def upstream_job(self, job: RouteJob) -> RouteJob:
        """The job as the provider is asked it (a translated pair's body is the provider's;
        raises ``FlexError`` for what the provider cannot express), computed once, before the
        race."""
        return job

    @abc.abstractmethod
    def auth_headers(self, api_key: str) -> dict[str, str]: ...

    def prepare_body(self, job: RouteJob, tier: UpstreamTier, stream: bool) -> dict[str, Any]:
        """The upstream body: the caller's with the router's ``service_tier``; streamed when
        ``stream`` (else the caller's own non-streamed body)."""
        body = dict(job.body)
        if stream:
            body["stream"] = True
        body["service_tier"] = self.tier_value(tier)
        return body

    def build(
        self, job: RouteJob, tier: UpstreamTier, api_key: str, *, stream: bool = True
    ) -> UpstreamRequest:
        body = encode_body(self.prepare_body(job, tier, stream))
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **self.auth_headers(api_key),
        }
        return UpstreamRequest(self.path, headers, body)

    def answer_fields(self, body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        """The served tier and the usage block of a non-streamed answer."""
        tier, usage = body.get("service_tier"), body.get("usage")
        return (
            tier if isinstance(tier, str) else None,
            usage if isinstance(usage, dict) else None,
        )

    def served_tier_header(self, headers: Mapping[str, str]) -> str | None:
        """The served tier when the provider reports it in a response header."""
        return None

    @abc.abstractmethod
    def is_capacity_error(self, status: int, body: bytes) -> bool:
        """Whether an HTTP error means the tier has no capacity now (worth retrying flex)."""

    @abc.abstractmethod
    def reader(self, job: RouteJob) -> UpstreamReader:
        """A fresh reader for one upstream stream of ``job``."""

    @abc.abstractmethod
    def presenter(self, job: RouteJob) -> Presenter:
        """The presenter of ``job``'s answer to its caller."""


def encode_body(body: dict[str, Any]) -> bytes:
    """The upstream request body as compact UTF-8 JSON. orjson is several times faster than the
    standard encoder and gives the same JSON here: the caller's body was parsed strictly (no
    NaN or Infinity, which orjson would write as null). It refuses integers beyond 64 bits,
    which JSON allows; those bodies take the standard encoder."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
