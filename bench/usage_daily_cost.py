"""What keeping usage_daily costs each recorded request: single-record ledger commits on two
SQLite files, one with the rollup's trigger and one without, interleaved in one run.

    .venv/bin/python bench/usage_daily_cost.py [--records 3000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import sys
import tempfile
import time

from sqlalchemy import text

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from bench.harness import percentile
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.ledger.store import LedgerStore
from tests.records import flex_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=3000)
    args = parser.parse_args()
    home = pathlib.Path(tempfile.mkdtemp(prefix="flexgrpc-bench-"))
    ledgers = {}
    for name in ("with trigger", "without"):
        engine = make_engine(f"sqlite:///{home / name.replace(' ', '_')}.db")
        upgrade(engine)
        if name == "without":
            with engine.begin() as connection:
                connection.execute(text("DROP TRIGGER usage_records_daily"))
        sessions = make_sessionmaker(engine)
        org = AccountStore(sessions).create_organization("bench").id
        store = LedgerStore(sessions)
        ledgers[name] = (store, org, store.connect())
    waits: dict[str, list[float]] = {name: [] for name in ledgers}
    now = dt.datetime.now(dt.UTC)
    for n in range(args.records):
        order = list(ledgers) if n % 2 else list(reversed(ledgers))
        for name in order:
            store, org, connection = ledgers[name]
            record = flex_record(org, f"req_{n:08d}", commission=1_000 * (n % 2), at=now)
            started = time.perf_counter()
            store.write([record], connection)
            waits[name].append((time.perf_counter() - started) * 1000)
    print(f"{args.records} single-record commits each, interleaved (SQLite, synchronous=FULL)")
    for name, values in waits.items():
        print(
            f"  {name:12} p50 {percentile(values, 50):.3f} ms  p90 {percentile(values, 90):.3f} ms"
        )
    extra = percentile(waits["with trigger"], 50) - percentile(waits["without"], 50)
    print(f"  the trigger adds {extra:+.3f} ms p50 per record")


if __name__ == "__main__":
    main()
