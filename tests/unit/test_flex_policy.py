"""The learned flex policy: its start-chance estimate and when it skips a race."""

from __future__ import annotations

import random

import pytest

from flexgrpc.domain import RouteJob
from flexgrpc.routing.flex_policy import FlexStartHistory, LearnedFlexPolicy
from tests.jobs import responses_job


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def history(*races: tuple[float, bool], clock: Clock | None = None) -> FlexStartHistory:
    kept = FlexStartHistory(capacity=500, horizon_s=600, clock=clock or Clock())
    for waited_s, started in races:
        kept.add(waited_s, started)
    return kept


def test_waits_in_vain_count_as_not_started_by_then_not_as_failures() -> None:
    # Started at 2 s and 6 s; waited in vain 4 s and 8 s. Kaplan-Meier: at 2 s one of four
    # starts, at 6 s one of the two still waiting: S(6) = 3/4 * 1/2.
    races = history((2, True), (4, False), (6, True), (8, False))
    assert races.start_chance(1) == (0.0, 4)
    assert races.start_chance(2) == (0.25, 4)
    assert races.start_chance(5) == (0.25, 2)
    assert races.start_chance(7) == (pytest.approx(1 - 0.375), 1)
    assert races.start_chance(9) == (pytest.approx(1 - 0.375), 0)


def test_forgets_races_older_than_its_horizon() -> None:
    clock = Clock()
    races = history(*[(10, False)] * 5, clock=clock)
    clock.now += 601
    races.add(3, True)
    assert races.start_chance(10) == (1.0, 0)


def job(window_s: int, model: str = "gpt-5-mini") -> RouteJob:
    return responses_job(window_ms=window_s * 1000, model=model)


def saturated(policy: LearnedFlexPolicy, n: int, waited_s: float = 30) -> None:
    for _ in range(n):
        policy.observe(job(int(waited_s)), waited_s, started=False)


def test_races_until_there_is_enough_evidence_then_skips_hopeless_windows() -> None:
    policy = LearnedFlexPolicy(min_evidence=20, explore=0.0, clock=Clock())
    saturated(policy, 19)
    assert policy.should_race(job(10))
    saturated(policy, 1)
    assert not policy.should_race(job(10))
    assert not policy.should_race(job(30))
    # Never seen waited this long: it may start, so the window is raced.
    assert policy.should_race(job(31))
    # Other models have their own history.
    assert policy.should_race(job(10, model="gpt-5"))


def test_a_plausible_start_keeps_the_race() -> None:
    policy = LearnedFlexPolicy(min_evidence=20, explore=0.0, clock=Clock())
    saturated(policy, 40)
    policy.observe(job(30), 8, started=True)  # 1 start in 41: 2.4 %, above the 2 % bar
    assert policy.should_race(job(10))
    assert not policy.should_race(job(5))


def test_explores_a_share_of_the_hopeless_windows() -> None:
    policy = LearnedFlexPolicy(min_evidence=20, explore=0.1, clock=Clock(), rng=random.Random(3))
    saturated(policy, 50)
    raced = sum(policy.should_race(job(10)) for _ in range(2000))
    assert 140 <= raced <= 260
