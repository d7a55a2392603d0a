"""Crash recovery, long form: rounds of load, SIGKILL mid-load, restart, verify.

Each round runs mixed streamed and unary requests (flex and fixed tiers) against a real server
on the simulator, kills the server with SIGKILL at a random moment, restarts it on the same
database, and checks that every answer a client fully received has its usage record, that
commissions match records (the auditor) and that nothing was recorded twice. Prints counts.
The short form runs in the test suite (tests/integration/test_crash.py).

    .venv/bin/python bench/crash_recovery.py [--rounds 5] [--seconds 6] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import random
import signal
import sys
import tempfile

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.ledger.audit import audit
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.sim import SimConfig, run_in_thread
from tests.integration.conftest import new_caller
from tests.integration.test_crash import load
from tests.serverproc import start_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="load per round")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 2, 4.0
    rng = random.Random(args.seed)
    config = SimConfig(seed=args.seed).with_tier(
        "flex", start_delay="uniform:50ms-600ms", token_rate=400
    )
    home = pathlib.Path(tempfile.mkdtemp(prefix="flexgrpc-crash-"))
    url = f"sqlite:///{home / 'crash.db'}"
    secret = generate_encryption_key()
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    store = AccountStore(sessions, ProviderKeyCipher.from_setting(secret))
    caller = new_caller(store, "Crash bench")
    store.set_provider_key(caller.organization_id, "openai", "sk-bench-" + "a" * 32)
    ledger = LedgerStore(sessions)
    totals = {"delivered": 0, "missing": 0, "failed_in_flight": 0}
    with run_in_thread(config) as sim:
        env = {
            "FLEXGRPC_DATABASE_URL": url,
            "FLEXGRPC_ENCRYPTION_KEY": secret,
            "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
            "FLEXGRPC_LOG_LEVEL": "WARNING",
        }
        for round_number in range(1, args.rounds + 1):
            server = start_server(home, env)
            kill_at = rng.uniform(args.seconds * 0.3, args.seconds * 0.8)

            async def scenario(
                kill_at: float = kill_at, server: object = server
            ) -> tuple[set[str], int]:
                loading = asyncio.create_task(load(server.target, caller.metadata, args.seconds))  # type: ignore[attr-defined]
                await asyncio.sleep(kill_at)
                server.process.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
                return await loading

            complete, failures = asyncio.run(scenario())
            server.process.wait(10)
            missing = [rid for rid in complete if not ledger.has_record(rid)]
            totals["delivered"] += len(complete)
            totals["missing"] += len(missing)
            totals["failed_in_flight"] += failures
            print(
                f"round {round_number}: killed at {kill_at:4.1f} s; answers delivered "
                f"{len(complete):5d}, of them recorded {len(complete) - len(missing):5d}; "
                f"requests cut by the kill {failures:4d}"
            )
        restarted = start_server(home, env)
        restarted.stop()
    problems = audit(sessions)
    records = ledger.count_records()
    print(
        f"\ntotal: {totals['delivered']} answers delivered, {totals['missing']} without a record; "
        f"{totals['failed_in_flight']} cut by kills; {records} records stored; "
        f"receivable {ledger.balance(caller.organization_id)} nano-USD; "
        f"auditor: {'ok' if not problems else problems[:5]}"
    )


if __name__ == "__main__":
    main()
