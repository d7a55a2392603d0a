"""Metrics counted from hand-made request records: the race's own measures."""

from __future__ import annotations

import datetime as dt

import pytest

from flexgrpc.domain import (
    Provider,
    RaceOutcome,
    RequestRecord,
    ServedTier,
    StartWithin,
    Surface,
)
from flexgrpc.metrics import Metrics, RecordMetrics


def fell_back(*, attempts: int, after_ms: float) -> RequestRecord:
    now = dt.datetime.now(dt.UTC)
    return RequestRecord(
        request_id="req_m",
        organization_id="org",
        api_key_id="key",
        surface=Surface.RESPONSES,
        create_time=now,
        model="gpt-5-mini",
        provider=Provider.OPENAI,
        requested=StartWithin(window_ms=5000),
        served_tier=ServedTier.STANDARD,
        outcome=RaceOutcome.FELL_BACK,
        flex_attempts=attempts,
        fallback_after_ms=after_ms,
        complete_time=now + dt.timedelta(seconds=5),
    )


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return found or 0.0


def test_fallback_lateness_is_measured_from_the_window_end() -> None:
    metrics = Metrics(lambda provider, model: model)
    observer = RecordMetrics(metrics)
    observer.observe(fell_back(attempts=2, after_ms=5_003.0))
    observer.observe(fell_back(attempts=1, after_ms=5_080.0))
    name = "flexgrpc_fallback_after_window_seconds"
    assert value(metrics, f"{name}_count", provider="openai") == 2
    assert value(metrics, f"{name}_bucket", provider="openai", le="0.005") == 1
    assert value(metrics, f"{name}_bucket", provider="openai", le="0.05") == 1
    assert value(metrics, f"{name}_sum", provider="openai") == pytest.approx(0.083)
    assert value(metrics, "flexgrpc_flex_attempts_total", provider="openai") == 3


def test_a_race_the_policy_skipped_is_counted_as_skipped_not_as_late() -> None:
    metrics = Metrics(lambda provider, model: model)
    RecordMetrics(metrics).observe(fell_back(attempts=0, after_ms=0.4))
    skipped = "flexgrpc_flex_races_skipped_total"
    labels = {"provider": "openai", "model": "gpt-5-mini", "reason": "flex_policy"}
    assert value(metrics, skipped, **labels) == 1
    assert value(metrics, "flexgrpc_fallback_after_window_seconds_count", provider="openai") == 0
