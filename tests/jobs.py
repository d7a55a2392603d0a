"""Validated requests (``RouteJob``) for tests that drive the race or the adapters directly."""

from __future__ import annotations

import time

from flexgrpc.domain import (
    FixedTier,
    Provider,
    ProviderRoute,
    RetryPolicy,
    RouteJob,
    StartWithin,
    Surface,
)


def responses_job(
    *,
    window_ms: int | None = 30_000,
    model: str = "gpt-5-mini",
    routes: tuple[ProviderRoute, ...] = (ProviderRoute.OPENAI,),
    retry: RetryPolicy | None = None,
) -> RouteJob:
    """A streamed OpenAI Responses request received now: a flex race over ``window_ms``, or
    the ``default`` tier when it is ``None``."""
    within = StartWithin(window_ms=window_ms) if window_ms else StartWithin(tier=FixedTier.DEFAULT)
    return RouteJob(
        request_id="req_test",
        surface=Surface.RESPONSES,
        model=model,
        provider=Provider.OPENAI,
        routes=routes,
        start_within=within,
        stream=True,
        body={"model": model, "input": "hi"},
        retry=retry,
        received_at=time.monotonic(),
    )
