"""The ``flexgrpc`` command: serve, database and account administration."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from flexgrpc.config import Settings
from flexgrpc.errors import FlexError


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grpc-host", help="gRPC listen address (FLEXGRPC_GRPC_HOST)")
    parser.add_argument(
        "--grpc-port", type=int, help="gRPC port, 0 for a free one (FLEXGRPC_GRPC_PORT)"
    )
    parser.add_argument("--http-host", help="REST shim listen address (FLEXGRPC_HTTP_HOST)")
    parser.add_argument(
        "--http-port", type=int, help="REST shim port, 0 for a free one (FLEXGRPC_HTTP_PORT)"
    )
    parser.add_argument(
        "--metrics-host", help="Prometheus /metrics listen address (FLEXGRPC_METRICS_HOST)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics at GET /metrics on this port, 0 for a free one "
        "(FLEXGRPC_METRICS_PORT; off when unset)",
    )


def _db_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (FLEXGRPC_DATABASE_URL; default: sqlite:///flexgrpc.db)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    flags = {
        name: getattr(args, name, None)
        for name in (
            "grpc_host",
            "grpc_port",
            "http_host",
            "http_port",
            "metrics_host",
            "metrics_port",
            "database_url",
        )
    }
    return Settings.from_env().replace(**flags)


def _accounts(settings: Settings) -> Any:
    from flexgrpc.accounts.crypto import ProviderKeyCipher
    from flexgrpc.accounts.store import AccountStore
    from flexgrpc.db.engine import make_engine, make_sessionmaker
    from flexgrpc.db.migrate import upgrade

    upgrade(settings.database_url)
    cipher = None
    if settings.encryption_key:
        cipher = ProviderKeyCipher.from_setting(settings.encryption_key)
    return AccountStore(make_sessionmaker(make_engine(settings.database_url)), cipher)


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data) if args.json else text)


def cmd_serve(args: argparse.Namespace) -> int:
    from flexgrpc import logs
    from flexgrpc.server import run

    settings = _settings(args)
    logs.configure(settings.log_level, settings.log_format)
    return run(settings)


def cmd_simulate(args: argparse.Namespace) -> int:
    import asyncio

    from flexgrpc.sim.cli import run as run_simulator

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_simulator(args))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio
    import pathlib

    from flexgrpc import logs
    from flexgrpc.demo import DEMO_DATABASE_URL, run_demo
    from flexgrpc.sim.cli import config_from_args

    settings = _settings(args)
    if not args.database_url and settings.database_url == Settings().database_url:
        settings = settings.replace(database_url=DEMO_DATABASE_URL)
    logs.configure(settings.log_level, settings.log_format)
    key_file = pathlib.Path(args.key_file) if args.key_file else None
    asyncio.run(run_demo(settings, config_from_args(args), args.host, args.port, key_file))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from flexgrpc.db.migrate import current_revision, upgrade

    settings = _settings(args)
    upgrade(settings.database_url)
    print(f"database at revision {current_revision(settings.database_url)}")
    return 0


def cmd_org_create(args: argparse.Namespace) -> int:
    org = _accounts(_settings(args)).create_organization(args.name)
    _emit(args, {"organization_id": org.id, "display_name": org.display_name}, org.id)
    return 0


def cmd_org_list(args: argparse.Namespace) -> int:
    orgs = _accounts(_settings(args)).list_organizations()
    if args.json:
        print(json.dumps([{"organization_id": o.id, "display_name": o.display_name} for o in orgs]))
    for org in [] if args.json else orgs:
        print(f"{org.id}\t{org.display_name}")
    return 0


def cmd_org_limits(args: argparse.Namespace) -> int:
    import dataclasses

    from flexgrpc.accounts.limits import OnExceed

    accounts = _accounts(_settings(args))
    org = accounts.get_organization(args.org)
    if org is None:
        raise FlexError("not_found", f"organization {args.org!r} does not exist")
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("requests_per_minute", args.requests_per_minute),
            ("request_burst", args.burst),
            ("flex_race_slots", args.flex_race_slots),
            ("on_exceed", OnExceed(args.on_exceed) if args.on_exceed else None),
        )
        if value is not None
    }
    limits = org.limits
    if changes:
        limits = accounts.set_limits(args.org, dataclasses.replace(limits, **changes)).limits
    shown = {
        "organization_id": args.org,
        "requests_per_minute": limits.requests_per_minute,
        "request_burst": limits.request_burst,
        "flex_race_slots": limits.flex_race_slots,
        "flex_race_slots_on_exceed": limits.on_exceed.value,
    }
    _emit(args, shown, "\n".join(f"{k}\t{v}" for k, v in shown.items()))
    return 0


def cmd_key_create(args: argparse.Namespace) -> int:
    info, secret = _accounts(_settings(args)).create_api_key(args.org)
    text = (
        f"key_id  {info.id}\napi_key {secret}\nThe API key is shown only this once; store it now."
    )
    _emit(
        args, {"key_id": info.id, "organization_id": info.organization_id, "api_key": secret}, text
    )
    return 0


def cmd_key_list(args: argparse.Namespace) -> int:
    keys = _accounts(_settings(args)).list_api_keys(args.org)
    rows = [
        {
            "key_id": k.id,
            "display_prefix": k.display_prefix,
            "create_time": k.create_time.isoformat(),
            "revoke_time": k.revoke_time.isoformat() if k.revoke_time else None,
        }
        for k in keys
    ]
    if args.json:
        print(json.dumps(rows))
    for r in [] if args.json else rows:
        print(f"{r['key_id']}\t{r['display_prefix']}\t{r['revoke_time'] or 'active'}")
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    info = _accounts(_settings(args)).revoke_api_key(args.key_id)
    stamp = info.revoke_time.isoformat() if info.revoke_time else ""
    _emit(args, {"key_id": info.id, "revoke_time": stamp}, f"revoked {info.id} at {stamp}")
    return 0


def cmd_provider_key_set(args: argparse.Namespace) -> int:
    # The secret comes from stdin only: argv is visible in `ps` and shell history.
    if sys.stdin.isatty():
        print(f"Paste the {args.provider} key and press Enter:", file=sys.stderr)
    secret = sys.stdin.readline().strip()
    _accounts(_settings(args)).set_provider_key(args.org, args.provider, secret)
    _emit(args, {"organization_id": args.org, "provider": args.provider}, "provider key stored")
    return 0


def cmd_provider_key_delete(args: argparse.Namespace) -> int:
    _accounts(_settings(args)).delete_provider_key(args.org, args.provider)
    _emit(args, {"organization_id": args.org, "provider": args.provider}, "provider key deleted")
    return 0


def cmd_billing_close(args: argparse.Namespace) -> int:
    from flexgrpc.billing.assembly import close_command
    from flexgrpc.db.migrate import upgrade

    settings = _settings(args)
    upgrade(settings.database_url)
    return close_command(args, settings)


def cmd_dashboard_sign_in_link(args: argparse.Namespace) -> int:
    import datetime as dt

    from flexgrpc.dashboard.links import dashboard_url, sign_in_link
    from flexgrpc.dashboard.sessions import SessionStore
    from flexgrpc.db.engine import make_engine, make_sessionmaker
    from flexgrpc.db.migrate import upgrade

    if not 1 <= args.minutes <= 7 * 24 * 60:
        raise ValueError("--minutes must be between 1 and 10080 (a week)")
    settings = _settings(args)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        sessions = SessionStore(
            make_sessionmaker(engine), ttl=dt.timedelta(seconds=settings.dashboard_session_ttl_s)
        )
        link = sign_in_link(
            sessions,
            args.org,
            args.base_url.rstrip("/") if args.base_url else dashboard_url(settings),
            dt.timedelta(minutes=args.minutes),
        )
    finally:
        engine.dispose()
    _emit(
        args,
        {"organization_id": args.org, "url": link, "expires_in_minutes": args.minutes},
        f"{link}\nOpens a dashboard session for {args.org}; works once, for {args.minutes} "
        "minutes. Send it only to that organization's owner.",
    )
    return 0


def cmd_encryption_key_generate(args: argparse.Namespace) -> int:
    from flexgrpc.accounts.crypto import generate_encryption_key

    print(generate_encryption_key())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flexgrpc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        parent: Any, name: str, func: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print JSON")
        return p

    serve = command(sub, "serve", cmd_serve, "run the gRPC server and the REST shim")
    _server_flags(serve)
    _db_flag(serve)

    from flexgrpc.sim.cli import add_arguments as add_simulator_flags

    simulate = command(sub, "simulate", cmd_simulate, "run the provider simulator")
    add_simulator_flags(simulate)

    demo = command(
        sub, "demo", cmd_demo, "run the server and the provider simulator, with a demo account"
    )
    _server_flags(demo)
    _db_flag(demo)
    demo.add_argument("--key-file", help="write the demo API key to this file")
    add_simulator_flags(demo)  # --host/--port here are the simulator's

    db = sub.add_parser("db", help="database administration").add_subparsers(
        dest="db_command", required=True
    )
    _db_flag(command(db, "upgrade", cmd_db_upgrade, "apply migrations"))

    org = sub.add_parser("org", help="organizations").add_subparsers(
        dest="org_command", required=True
    )
    p = command(org, "create", cmd_org_create, "create an organization, print its id")
    p.add_argument("name")
    _db_flag(p)
    _db_flag(command(org, "list", cmd_org_list, "list organizations"))
    p = command(
        org,
        "limits",
        cmd_org_limits,
        "show an organization's limits, or change those given (0 = unlimited)",
    )
    p.add_argument("org", help="organization id")
    p.add_argument("--requests-per-minute", type=int, help="token bucket refill rate")
    p.add_argument("--burst", type=int, help="bucket size (0 = a minute's worth)")
    p.add_argument("--flex-race-slots", type=int, help="flex races at once")
    p.add_argument(
        "--on-exceed",
        choices=("refuse", "degrade_to_standard"),
        help="what a race beyond the slots gets",
    )
    _db_flag(p)

    key = sub.add_parser("key", help="API keys").add_subparsers(dest="key_command", required=True)
    p = command(key, "create", cmd_key_create, "create an API key (shown once)")
    p.add_argument("org", help="organization id")
    _db_flag(p)
    p = command(key, "list", cmd_key_list, "list an organization's API keys")
    p.add_argument("org", help="organization id")
    _db_flag(p)
    p = command(key, "revoke", cmd_key_revoke, "revoke an API key")
    p.add_argument("key_id")
    _db_flag(p)

    pk = sub.add_parser("provider-key", help="provider keys (BYOK)").add_subparsers(
        dest="pk_command", required=True
    )
    for name, func, text in (
        ("set", cmd_provider_key_set, "store a provider key, read from stdin"),
        ("delete", cmd_provider_key_delete, "delete a provider key"),
    ):
        p = command(pk, name, func, text)
        p.add_argument("org", help="organization id")
        p.add_argument("provider", choices=["openai", "gemini", "anthropic"])
        _db_flag(p)

    from flexgrpc.billing.assembly import add_arguments as add_close_flags

    billing = sub.add_parser("billing", help="billing").add_subparsers(
        dest="billing_command", required=True
    )
    close = command(billing, "close", cmd_billing_close, "close a UTC month: invoices and charges")
    add_close_flags(close)
    _db_flag(close)

    dashboard = sub.add_parser("dashboard", help="the web dashboard").add_subparsers(
        dest="dashboard_command", required=True
    )
    p = command(
        dashboard,
        "sign-in-link",
        cmd_dashboard_sign_in_link,
        "print a one-time link that signs in to an organization's dashboard",
    )
    p.add_argument("org", help="organization id")
    p.add_argument("--minutes", type=int, default=30, help="how long the link works (default 30)")
    p.add_argument(
        "--base-url",
        help="the dashboard's address, e.g. https://flex.example.com/dashboard (default: "
        "FLEXGRPC_DASHBOARD_PUBLIC_URL, else the REST port)",
    )
    _db_flag(p)
    p.add_argument("--http-host", help="REST shim address the link points at")
    p.add_argument("--http-port", type=int, help="REST shim port the link points at")

    ek = sub.add_parser("encryption-key", help="provider-key encryption").add_subparsers(
        dest="ek_command", required=True
    )
    command(ek, "generate", cmd_encryption_key_generate, "print a new FLEXGRPC_ENCRYPTION_KEY")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except FlexError as error:
        print(f"error: {error.code}: {error.message}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
