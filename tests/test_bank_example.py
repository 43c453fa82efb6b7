"""The bank example (examples/bank, issue 17) runs as written.

Both variants run their requests, follow them with a projection and a subscription, and
check the balances of the aggregates against the projection's (exit 1 when they
differ). Here the balances are also checked against the workload worked out by hand,
and the same requests sent a second time (by the other variant) append nothing.
tests/test_recovery.py runs each variant through a restart of the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from cluster_support import one

BANK = Path(__file__).resolve().parent.parent / "examples" / "bank"


def expected(customers: int, rounds: int) -> tuple[dict[str, int], int, int]:
    """The balances, the number of events and of large withdrawals the workload gives."""
    balances = {}
    events = withdrawals = 0
    for n in range(customers):
        balance = 0
        events += 1
        for r in range(rounds):
            balance += 100 * (r + 1) + n
            events += 1
            if r % 3 == 2 and balance >= 500:
                balance -= 500
                events += 1
                withdrawals += 1
        balances[f"account-{n}"] = balance
    return balances, events, withdrawals


def expected_balances(customers: int, rounds: int) -> dict[str, int]:
    return expected(customers, rounds)[0]


def start(script: str, dsn: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(BANK / script), *args],
        env={**os.environ, "PGEVENTSTORE_DSN": dsn},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, f"{out}\n{err}"
    return out


def projected(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("select account_id, balance_cents from bank_balances").fetchall())


def test_both_variants_run_as_written_and_a_request_sent_again_appends_nothing(dsn: str) -> None:
    out = finish(start("run_sync.py", dsn))
    assert "27 requests, 0 refused" in out and "large withdrawals recorded: 6" in out, out
    assert projected(dsn) == expected_balances(3, 6)
    events = one(dsn, "select count(*) from eventstore.events")
    out = finish(start("run_async.py", dsn))
    # The three openings are refused (the accounts are open); the rest was executed before.
    assert "27 requests, 3 refused" in out and "(projection: 1112)" in out, out
    assert one(dsn, "select count(*) from eventstore.events") == events
    assert projected(dsn) == expected_balances(3, 6)
    assert one(dsn, "select count(*) from bank_alerts") == 6
