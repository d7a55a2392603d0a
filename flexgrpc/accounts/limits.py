"""An organization's limits (SPEC §8): its request rate and its concurrent flex races.

The values live on the organization's row; the authenticated ``Principal`` carries them, so a
request never reads the database for them (a change reaches every replica within the auth
cache's TTL). ``0`` means unlimited, the default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from flexgrpc.errors import FlexError

#: Largest value any limit takes: beyond it a limit means nothing, and it fits 32 bits.
LIMIT_MAX: Final = 1_000_000


class OnExceed(enum.StrEnum):
    """What a flex race beyond the organization's slots gets."""

    #: ``flex_race_slots_exhausted`` (429), with Retry-After.
    REFUSE = "refuse"
    #: Served at once on the standard tier (the record says so; no commission).
    DEGRADE_TO_STANDARD = "degrade_to_standard"


@dataclass(frozen=True, slots=True)
class OrganizationLimits:
    #: Token bucket: refilled at this many requests per minute; 0 = no rate limit.
    requests_per_minute: int = 0
    #: The bucket's size: how many requests may come at once after a quiet spell;
    #: 0 = ``requests_per_minute`` (a minute's worth).
    request_burst: int = 0
    #: Flex races the organization may have running at once; 0 = no cap.
    flex_race_slots: int = 0
    on_exceed: OnExceed = OnExceed.REFUSE

    @property
    def burst(self) -> int:
        return self.request_burst or self.requests_per_minute

    @property
    def rate_limited(self) -> bool:
        return self.requests_per_minute > 0


UNLIMITED: Final = OrganizationLimits()


def check_limit(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LIMIT_MAX:
        raise FlexError(
            "invalid_argument",
            f"{name} must be a whole number from 0 (unlimited) to {LIMIT_MAX:,}, got {value!r}.",
            field=f"limits.{name}",
        )
    return value


def parse_on_exceed(value: str) -> OnExceed:
    try:
        return OnExceed(value)
    except ValueError:
        raise FlexError(
            "invalid_argument",
            "flex_race_slots_on_exceed must be `refuse` or `degrade_to_standard`, "
            f"got {value[:40]!r}.",
            field="limits.flex_race_slots_on_exceed",
        ) from None
