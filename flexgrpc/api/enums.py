"""The domain's enums as the protos spell them, both ways."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from flexinference.v1 import types_pb2

from flexgrpc.domain import FixedTier, ProviderRoute, RaceOutcome, ServedTier, Surface

SURFACES: Final[Mapping[Surface, types_pb2.Surface.ValueType]] = {
    Surface.RESPONSES: types_pb2.SURFACE_RESPONSES,
    Surface.CHAT_COMPLETIONS: types_pb2.SURFACE_CHAT_COMPLETIONS,
    Surface.MESSAGES: types_pb2.SURFACE_MESSAGES,
    Surface.INTERACTIONS: types_pb2.SURFACE_INTERACTIONS,
    Surface.GENERATE_CONTENT: types_pb2.SURFACE_GENERATE_CONTENT,
}
SURFACE_OF: Final = {number: surface for surface, number in SURFACES.items()}

SERVED_TIERS: Final[Mapping[ServedTier, types_pb2.ServedTier.ValueType]] = {
    ServedTier.UNKNOWN: types_pb2.SERVED_TIER_UNSPECIFIED,
    ServedTier.STANDARD: types_pb2.SERVED_TIER_STANDARD,
    ServedTier.FLEX: types_pb2.SERVED_TIER_FLEX,
    ServedTier.PRIORITY: types_pb2.SERVED_TIER_PRIORITY,
    ServedTier.OTHER: types_pb2.SERVED_TIER_OTHER,
}
SERVED_TIER_OF: Final = {
    number: tier for tier, number in SERVED_TIERS.items() if tier is not ServedTier.UNKNOWN
}

OUTCOMES: Final[Mapping[RaceOutcome, types_pb2.RaceOutcome.ValueType]] = {
    RaceOutcome.FLEX_WON: types_pb2.RACE_OUTCOME_FLEX_WON,
    RaceOutcome.FELL_BACK: types_pb2.RACE_OUTCOME_FELL_BACK,
    RaceOutcome.FREE_TIER: types_pb2.RACE_OUTCOME_FREE_TIER,
    RaceOutcome.FAILED: types_pb2.RACE_OUTCOME_FAILED,
    RaceOutcome.CANCELED: types_pb2.RACE_OUTCOME_CANCELED,
}
OUTCOME_OF: Final = {number: outcome for outcome, number in OUTCOMES.items()}

ROUTES: Final[Mapping[ProviderRoute, types_pb2.ProviderRoute.ValueType]] = {
    ProviderRoute.OPENAI: types_pb2.PROVIDER_ROUTE_OPENAI,
    ProviderRoute.GOOGLE: types_pb2.PROVIDER_ROUTE_GOOGLE,
    ProviderRoute.ANTHROPIC: types_pb2.PROVIDER_ROUTE_ANTHROPIC,
    ProviderRoute.VERTEX: types_pb2.PROVIDER_ROUTE_VERTEX,
    ProviderRoute.BEDROCK: types_pb2.PROVIDER_ROUTE_BEDROCK,
}

FIXED_TIERS: Final[Mapping[FixedTier, types_pb2.StartTier.ValueType]] = {
    FixedTier.DEFAULT: types_pb2.START_TIER_DEFAULT,
    FixedTier.PRIORITY: types_pb2.START_TIER_PRIORITY,
    FixedTier.AUTO: types_pb2.START_TIER_AUTO,
}
