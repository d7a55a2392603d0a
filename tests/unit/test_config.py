"""Settings read from the environment: the choices, and what an unknown value does."""

from __future__ import annotations

import pytest

from flexgrpc.config import Settings


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("FLEXGRPC_FLEX_POLICY", "flex_policy", "learned"),
        ("FLEXGRPC_REST_TRANSPORT", "rest_transport", "loopback"),
        ("FLEXGRPC_HTTP_HEADER_TIMEOUT_S", "http_header_timeout_s", 2.5),
        ("FLEXGRPC_METRICS_PORT", "metrics_port", 9464),
    ],
)
def test_each_setting_is_read_from_its_variable(name: str, field: str, value: object) -> None:
    assert getattr(Settings.from_env({name: str(value)}), field) == value
    assert getattr(Settings.from_env({}), field) == getattr(Settings(), field)


@pytest.mark.parametrize("name", ["FLEXGRPC_FLEX_POLICY", "FLEXGRPC_REST_TRANSPORT"])
def test_an_unknown_choice_stops_the_server_with_the_choices(name: str) -> None:
    with pytest.raises(SystemExit, match=f"{name} must be one of"):
        Settings.from_env({name: "clever"})


def test_metrics_are_off_unless_a_port_is_given() -> None:
    assert Settings.from_env({}).metrics_port is None
    assert Settings.from_env({"FLEXGRPC_METRICS_PORT": "0"}).metrics_port == 0
    with pytest.raises(SystemExit, match="FLEXGRPC_METRICS_PORT must be an integer"):
        Settings.from_env({"FLEXGRPC_METRICS_PORT": "ninety"})


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", "inf"])
def test_a_duration_that_is_not_a_finite_number_of_seconds_stops_the_server(raw: str) -> None:
    with pytest.raises(SystemExit, match="FLEXGRPC_SHUTDOWN_GRACE_S must be a finite number"):
        Settings.from_env({"FLEXGRPC_SHUTDOWN_GRACE_S": raw})


@pytest.mark.parametrize(
    "name",
    [
        "FLEXGRPC_UPSTREAM_CONNECT_TIMEOUT_S",
        "FLEXGRPC_UPSTREAM_IDLE_TIMEOUT_S",
        "FLEXGRPC_UPSTREAM_ANSWER_TIMEOUT_S",
    ],
)
def test_an_upstream_timeout_must_be_above_zero(name: str) -> None:
    with pytest.raises(SystemExit, match=f"{name} must be a finite number of seconds, above 0"):
        Settings.from_env({name: "0"})
    assert Settings.from_env({name: "2.5"}) != Settings()


@pytest.mark.parametrize("name", ["FLEXGRPC_KEEPALIVE_TIME_S", "FLEXGRPC_KEEPALIVE_TIMEOUT_S"])
def test_keepalive_seconds_are_whole_and_positive(name: str) -> None:
    with pytest.raises(SystemExit, match=f"{name} must be an integer of at least 1"):
        Settings.from_env({name: "-5"})
    with pytest.raises(SystemExit, match=f"{name} must be an integer"):
        Settings.from_env({name: "1.5"})


def test_workers_are_a_number_or_auto_for_every_core_this_process_may_use() -> None:
    import os

    assert Settings.from_env({}).workers == 1
    assert Settings.from_env({"FLEXGRPC_WORKERS": "3"}).workers == 3
    assert Settings.from_env({"FLEXGRPC_WORKERS": "auto"}).workers == len(os.sched_getaffinity(0))
    with pytest.raises(SystemExit, match="FLEXGRPC_WORKERS must be an integer of at least 1"):
        Settings.from_env({"FLEXGRPC_WORKERS": "0"})
