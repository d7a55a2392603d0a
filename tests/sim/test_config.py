"""Delay specs and configuration: parsing, validation, lookup and JSON round trip."""

from __future__ import annotations

import random
import statistics

import pytest

from flexgrpc.sim import SimConfig, TierConfig, parse_delay


@pytest.mark.parametrize(
    ("spec", "kind", "low", "high"),
    [
        ("none", "none", 0.0, 0.0),
        ("fixed:2s", "fixed", 2.0, 0.0),
        ("fixed:250ms", "fixed", 0.25, 0.0),
        ("fixed:1.5m", "fixed", 90.0, 0.0),
        ("exp:3s", "exp", 3.0, 0.0),
        ("uniform:1s-20s", "uniform", 1.0, 20.0),
        ("uniform:500ms-2s", "uniform", 0.5, 2.0),
        (" fixed:0s ", "fixed", 0.0, 0.0),
    ],
)
def test_delay_specs_parse(spec: str, kind: str, low: float, high: float) -> None:
    parsed = parse_delay(spec)
    assert (parsed.kind, parsed.low, parsed.high) == (kind, low, high)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "missing '<kind>:'"),
        ("2s", "missing '<kind>:'"),
        ("fixed:2", "is not a duration"),
        ("fixed:-1s", "is not a duration"),
        ("fixed:2h", "is not a duration"),
        ("exp:", "is not a duration"),
        ("uniform:1s", "uniform needs '<low>-<high>'"),
        ("uniform:5s-1s", "low bound is above high bound"),
        ("gauss:1s", "unknown kind 'gauss'"),
    ],
)
def test_bad_delay_specs_say_what_is_wrong_and_show_examples(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match="invalid delay spec") as caught:
        parse_delay(spec)
    message = str(caught.value)
    assert problem in message
    if problem != "low bound is above high bound":
        assert "uniform:1s-20s" in message


def test_delays_sample_their_distribution() -> None:
    rng = random.Random(1)
    exp = [parse_delay("exp:2s").sample(rng) for _ in range(4000)]
    assert statistics.mean(exp) == pytest.approx(2.0, rel=0.1)
    uniform = [parse_delay("uniform:1s-3s").sample(rng) for _ in range(1000)]
    assert min(uniform) >= 1.0
    assert max(uniform) <= 3.0
    assert parse_delay("fixed:250ms").sample(rng) == 0.25
    assert parse_delay("none").sample(rng) == 0.0


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"refusal_rate": 1.5}, "refusal_rate must be a number between 0 and 1"),
        ({"drop_rate": -0.1}, "drop_rate"),
        ({"start_delay": "later"}, "invalid delay spec"),
        ({"token_rate": -1}, "token_rate"),
        ({"output_tokens": 0}, "output_tokens"),
        ({"error_status": 404}, "error_status"),
        ({"serve_tier_instead": "auto"}, "serve_tier_instead"),
        ({"retry_after": -1}, "retry_after"),
    ],
)
def test_tier_config_rejects_nonsense(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TierConfig(**fields)  # type: ignore[arg-type]


def test_sim_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        SimConfig(time_scale=-1)
    with pytest.raises(ValueError, match="unknown tier"):
        SimConfig(tiers={"turbo": TierConfig()})
    with pytest.raises(ValueError, match="unknown provider"):
        SimConfig().with_tier("flex", provider="mistral")


def test_behavior_prefers_the_provider_then_the_tier_and_auto_falls_back_to_standard() -> None:
    config = (
        SimConfig()
        .with_tier("flex", refusal_rate=0.5)
        .with_tier("flex", provider="gemini", refusal_rate=0.9)
        .with_tier("standard", start_delay="fixed:1s")
    )
    assert config.behavior("openai", "flex").refusal_rate == 0.5
    assert config.behavior("gemini", "flex").refusal_rate == 0.9
    assert config.behavior("openai", "auto").start_delay == "fixed:1s"
    assert config.behavior("anthropic", "priority") == TierConfig()


def test_config_round_trips_through_json_shapes() -> None:
    config = (
        SimConfig(seed=9, time_scale=0.1, default_output_tokens=12)
        .with_tier("flex", refusal_rate=0.2, start_delay="uniform:1s-20s", token_rate=30)
        .with_tier("priority", provider="openai", serve_tier_instead="standard")
    )
    assert SimConfig.from_dict(config.to_dict()) == config
    assert SimConfig.from_dict({}) == SimConfig()
    with pytest.raises(ValueError, match=r"tiers\.flex: unknown field"):
        SimConfig.from_dict({"tiers": {"flex": {"refusal": 1}}})


def test_with_tier_edits_what_the_tier_does_now() -> None:
    config = SimConfig().with_tier("standard", start_delay="fixed:1s")
    auto = config.with_tier("auto", serve_tier_instead="priority").tiers["auto"]
    assert auto == TierConfig(start_delay="fixed:1s", serve_tier_instead="priority")

    gemini = config.with_tier("standard", provider="gemini", token_rate=5)
    assert gemini.behavior("gemini", "standard") == TierConfig(start_delay="fixed:1s", token_rate=5)
    assert gemini.behavior("openai", "standard") == TierConfig(start_delay="fixed:1s")
