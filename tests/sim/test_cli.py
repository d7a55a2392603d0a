"""``flexgrpc simulate`` flags and the serve loop."""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import re

import httpx
import pytest

from flexgrpc.sim import SimConfig, TierConfig
from flexgrpc.sim.cli import add_arguments, config_from_args, run


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="flexgrpc simulate")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_no_flags_give_the_default_configuration() -> None:
    args = _parse()
    assert (args.host, args.port) == ("127.0.0.1", 0)
    assert config_from_args(args) == SimConfig()


def test_flags_build_the_configuration() -> None:
    config = config_from_args(
        _parse(
            "--seed",
            "7",
            "--time-scale",
            "0.1",
            "--flex-refusal-rate",
            "0.25",
            "--flex-start-delay",
            "exp:20s",
            "--standard-start-delay",
            "fixed:300ms",
            "--token-rate",
            "50",
            "--error-rate",
            "0.01",
            "--drop-rate",
            "0.02",
            "--serve-tier-instead",
            "priority=standard",
        )
    )
    assert (config.seed, config.time_scale) == (7, 0.1)
    shared = {"token_rate": 50.0, "error_rate": 0.01, "drop_rate": 0.02}
    assert config.tiers["flex"] == TierConfig(refusal_rate=0.25, start_delay="exp:20s", **shared)
    assert config.tiers["standard"] == TierConfig(start_delay="fixed:300ms", **shared)
    assert config.tiers["priority"] == TierConfig(serve_tier_instead="standard", **shared)
    assert config.behavior("openai", "auto") == config.tiers["standard"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--flex-start-delay", "soon"], "invalid delay spec"),
        (["--flex-refusal-rate", "2"], "not between 0 and 1"),
        (["--serve-tier-instead", "flex"], "REQUESTED=SERVED"),
        (["--token-rate", "-3"], "negative"),
    ],
)
def test_bad_flags_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit):
        _parse(*argv)
    assert message in capsys.readouterr().err


def test_flags_override_a_config_file(tmp_path: pathlib.Path) -> None:
    base = SimConfig(seed=3).with_tier("flex", refusal_rate=0.5, start_delay="fixed:1s")
    path = tmp_path / "sim.json"
    path.write_text(json.dumps(base.to_dict()))
    config = config_from_args(_parse("--config", str(path), "--flex-start-delay", "fixed:2s"))
    assert config.seed == 3
    assert config.tiers["flex"] == TierConfig(refusal_rate=0.5, start_delay="fixed:2s")

    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the configuration file"):
        config_from_args(_parse("--config", str(path)))


async def test_run_prints_where_it_listens_and_serves_until_cancelled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    task = asyncio.create_task(run(_parse("--seed", "1", "--flex-refusal-rate", "1")))
    printed = ""
    for _ in range(500):
        printed += capsys.readouterr().out
        if "listening" in printed:
            break
        await asyncio.sleep(0.01)
    match = re.search(r"^simulator listening on 127\.0\.0\.1:(\d+)$", printed, re.MULTILINE)
    assert match, printed
    url = f"http://127.0.0.1:{match.group(1)}"
    async with httpx.AsyncClient(base_url=url) as http:
        refused = await http.post(
            "/v1/responses",
            json={"model": "gpt-4.1", "input": "hi", "service_tier": "flex"},
            headers={"authorization": "Bearer sk-test"},
        )
        assert refused.status_code == 429

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{url}/_sim/health")
