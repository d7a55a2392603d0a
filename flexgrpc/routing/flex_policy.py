"""Learning when a flex race is hopeless, so that it can go straight to standard (SPEC §3.8).

The plain race always tries flex for the whole window. When a provider's flex tier is saturated
(starts take minutes, or every attempt is refused) a short window cannot be met, and the caller
waits it out only to get standard anyway. ``LearnedFlexPolicy`` remembers, per provider and
model, how recent races went: when flex started (measured from receipt), or how long it was
waited for in vain (the window, or until the caller left). From those it estimates the chance
that flex starts within a new request's window, with the Kaplan-Meier estimator, which uses the
in-vain waits as what they are (flex had not started *by then*) rather than as failures.

A race is skipped only when that chance is below ``hopeless`` (default 2 %) and at least
``min_evidence`` recent races were watched for at least this window's length: a window longer
than anything seen is always tried. A window is never shortened. A share ``explore`` of would-be
skips still runs the race, and races older than ``horizon_s`` are forgotten, so that a flex tier
that recovers is noticed. The policy is off unless configured (``FLEXGRPC_FLEX_POLICY=learned``);
bench/savings.py measures it against the plain race.
"""

from __future__ import annotations

import bisect
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flexgrpc.domain import RouteJob


class FlexPolicy(Protocol):
    def should_race(self, job: RouteJob) -> bool:
        """Whether to try flex for this job's window (``False``: standard at once)."""
        ...

    def observe(self, job: RouteJob, waited_s: float, started: bool) -> None:
        """A race ended: flex started ``waited_s`` after receipt, or had not started by then."""
        ...


@dataclass(frozen=True, slots=True)
class _Race:
    at: float
    waited_s: float
    started: bool


class FlexStartHistory:
    """The recent races of one provider and model."""

    def __init__(self, capacity: int, horizon_s: float, clock: Callable[[], float]) -> None:
        self._races: deque[_Race] = deque(maxlen=capacity)
        self._horizon_s = horizon_s
        self._clock = clock

    def add(self, waited_s: float, started: bool) -> None:
        self._races.append(_Race(self._clock(), max(0.0, waited_s), started))

    def _recent(self) -> list[_Race]:
        oldest = self._clock() - self._horizon_s
        while self._races and self._races[0].at < oldest:
            self._races.popleft()
        return list(self._races)

    def start_chance(self, window_s: float) -> tuple[float, int]:
        """(P(flex starts within ``window_s`` of receipt), races watched at least that long).

        Kaplan-Meier: at each start time t, the survivors shrink by (starts at t) / (races
        still waiting at t); a race that stopped waiting leaves the risk set without a start.
        """
        races = sorted(self._recent(), key=lambda race: race.waited_s)
        at_risk = len(races)
        watched = len(races) - bisect.bisect_left([r.waited_s for r in races], window_s)
        survival = 1.0
        i = 0
        while i < len(races) and races[i].waited_s <= window_s:
            t = races[i].waited_s
            starts = ended = 0
            while i < len(races) and races[i].waited_s == t:
                starts += races[i].started
                ended += 1
                i += 1
            if starts:
                survival *= 1 - starts / at_risk
            at_risk -= ended
        return 1 - survival, watched


class LearnedFlexPolicy:
    """Skips the flex race when recent races show it cannot start within the window."""

    def __init__(
        self,
        *,
        hopeless: float = 0.02,
        min_evidence: int = 20,
        explore: float = 0.05,
        capacity: int = 500,
        horizon_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._hopeless = hopeless
        self._min_evidence = min_evidence
        self._explore = explore
        self._capacity = capacity
        self._horizon_s = horizon_s
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - exploration, not security
        self._histories: dict[tuple[str, str], FlexStartHistory] = {}

    def _history(self, job: RouteJob) -> FlexStartHistory:
        key = (job.provider.value, job.model)
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = FlexStartHistory(
                self._capacity, self._horizon_s, self._clock
            )
        return history

    def should_race(self, job: RouteJob) -> bool:
        window_ms = job.start_within.window_ms
        if window_ms is None:
            return False
        chance, watched = self._history(job).start_chance(window_ms / 1000)
        if watched < self._min_evidence or chance >= self._hopeless:
            return True
        return self._rng.random() < self._explore

    def observe(self, job: RouteJob, waited_s: float, started: bool) -> None:
        self._history(job).add(waited_s, started)
