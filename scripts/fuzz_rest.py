"""Fuzz the REST shim from its own OpenAPI description with schemathesis (``dev.py fuzz-rest``).

Starts ``flexgrpc demo`` (SQLite in a temporary folder, the provider simulator 100x faster,
free ports, card payments on localstripe and a webhook signing secret, so that nothing answers
"not configured") with a fresh demo API key, points schemathesis at its ``/openapi.json`` with that
key, and checks every answer: no 5xx (``not_a_server_error``), the body matches the declared
schema (``response_schema_conformance``) and the status is one the operation declares
(``status_code_conformance``). Bounded by examples per operation and a time budget. Prints
how many requests went out and the status distribution (from schemathesis's HAR report), and
fails when schemathesis found anything or the server logged an error or a traceback.

    python3 scripts/dev.py fuzz-rest [--max-examples N] [--max-time SECONDS] [--seed N] [--only RE]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
_HTTP_LISTENING = re.compile(r"http listening on \S+:(?P<port>\d+)")


def start_localstripe() -> str:
    """localstripe (a Stripe emulator, a dev dependency) on a free loopback port, from a thread
    of this process, with its pickling to /tmp switched off; its base URL."""
    import asyncio

    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="localstripe", daemon=True).start()
    runner = web.AppRunner(server.app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        sockets: Any = site._server.sockets  # type: ignore[union-attr]
        return int(sockets[0].getsockname()[1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    return f"http://127.0.0.1:{port}"


def start_demo(home: pathlib.Path, stripe: str) -> tuple[subprocess.Popen[str], int, str]:
    """``flexgrpc demo`` on free ports; its REST port and the demo API key."""
    key_file = home / "demo.key"
    env = {
        **os.environ,
        "FLEXGRPC_LOG_FORMAT": "json",
        "FLEXGRPC_STRIPE_API_KEY": "sk_test_fuzz",
        "FLEXGRPC_STRIPE_API_BASE": stripe,
        "FLEXGRPC_STRIPE_WEBHOOK_SECRET": "whsec_fuzz",
        # schemathesis sends many requests without a valid key on purpose.
        "FLEXGRPC_AUTH_FAILURES_PER_MINUTE": "1000000",
    }
    server = subprocess.Popen(
        [BIN / "flexgrpc", "demo", "--grpc-port", "0", "--http-port", "0", "--port", "0",
         "--database-url", f"sqlite:///{home / 'fuzz.db'}", "--key-file", str(key_file),
         "--time-scale", "0.01"],
        cwd=home, env=env, stdout=subprocess.PIPE, stderr=(home / "server.log").open("w"),
        text=True,
    )  # fmt: skip
    assert server.stdout is not None
    port = None
    for line in server.stdout:
        found = _HTTP_LISTENING.search(line)
        if found:
            port = int(found["port"])
        if line.startswith("flexgrpc demo is running"):
            break
    if port is None or not key_file.exists():
        server.kill()
        sys.exit(f"fuzz-rest: the demo did not start; see {home / 'server.log'}")
    return server, port, key_file.read_text().strip()


def run_schemathesis(url: str, key: str, args: argparse.Namespace, har: pathlib.Path) -> int:
    command = [
        BIN / "schemathesis", "run", f"{url}/openapi.json",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(args.max_examples),
        "--max-time", str(args.max_time),
        "--seed", str(args.seed),
        # One worker: hypothesis describing filters from several threads at once trips
        # CPython 3.11's ast ("AST constructor recursion depth mismatch").
        "--workers", "1",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--header", f"Authorization: Bearer {key}",
        "--report", "har", "--report-har-path", str(har),
        "--output-sanitize", "true",
        *(["--include-path-regex", args.only] if args.only else []),
    ]  # fmt: skip
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "fuzz_rest_hooks",
        "PYTHONPATH": str(ROOT / "scripts"),
    }
    return subprocess.run([str(c) for c in command], cwd=ROOT, env=env, check=False).returncode


def summarize(har: pathlib.Path) -> tuple[int, collections.Counter[int], collections.Counter[str]]:
    """Requests sent, by status, and the error codes of the refusals (what the fuzzer hit)."""
    if not har.exists():
        return 0, collections.Counter(), collections.Counter()
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = collections.Counter(int(entry["response"]["status"]) for entry in entries)
    codes = collections.Counter(
        _error_code(entry["response"].get("content", {}).get("text", ""))
        for entry in entries
        if 400 <= int(entry["response"]["status"]) < 600
    )
    return len(entries), statuses, codes


def _error_code(text: str) -> str:
    """The spec code of an error answer: ``code`` in OpenAI's envelope, the ErrorInfo reason in
    Google's, the ``type`` in Anthropic's."""
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        return "?"
    if isinstance(error.get("code"), str):
        return str(error["code"])
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and "reason" in detail:
            return str(detail["reason"])
    return str(error.get("type", "?"))


def server_errors(log: pathlib.Path) -> list[str]:
    """Log lines at ERROR or above, and any traceback (a JSON log has none on a good run)."""
    bad = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            level = str(json.loads(line).get("level", "")).upper()
        except (ValueError, AttributeError):
            level = "ERROR" if "Traceback" in line else ""
        if level in ("ERROR", "CRITICAL") or "Traceback (most recent call last)" in line:
            bad.append(line[:500])
    return bad


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=10, help="per operation (10)")
    parser.add_argument("--max-time", type=int, default=150, help="whole run, seconds (150)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="fuzz only the paths this regular expression matches")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flexgrpc-fuzz-rest-") as tmp:
        home = pathlib.Path(tmp)
        server, port, key = start_demo(home, start_localstripe())
        started = time.monotonic()
        try:
            code = run_schemathesis(f"http://127.0.0.1:{port}", key, args, home / "run.har")
        finally:
            server.terminate()
            server.wait(30)
        requests, statuses, codes = summarize(home / "run.har")
        distribution = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
        print(f"fuzz-rest: {requests} requests in {time.monotonic() - started:.0f} s; "
              f"statuses {distribution or 'none'}")  # fmt: skip
        common = ", ".join(f"{c}: {n}" for c, n in codes.most_common(12))
        print(f"fuzz-rest: error codes {common or 'none'}")
        errors = server_errors(home / "server.log")
        for line in errors[:20]:
            print(f"fuzz-rest: server logged: {line}")
        if errors:
            print(f"fuzz-rest: {len(errors)} error lines in the server log")
            return 1
        if requests == 0:
            print("fuzz-rest: no request was sent")
            return 1
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
