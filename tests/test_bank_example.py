"""The bank example (examples/bank, issue 17) runs as written and survives a server restart.

Both variants run their requests, follow them with a projection and a subscription, and
check the balances of the aggregates against the projection's (exit 1 when they
differ). Here the balances are also checked against the workload worked out by hand,
the same requests sent a second time (by the other variant) append nothing, and each
variant runs through a restart of a private cluster with the right balances.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cluster_support import clusters, create_store, one, wait_for
from pgeventstore.cluster import FAST_SETTINGS, Cluster

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


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with clusters() as made:
        yield made.primary("bank", settings=FAST_SETTINGS)


def test_the_bank_survives_a_server_restart_mid_run(cluster: Cluster) -> None:
    customers, rounds = 4, 24
    dsns = {
        script: create_store(cluster, script.removesuffix(".py"))
        for script in ("run_sync.py", "run_async.py")
    }
    runs = {
        script: start(script, dsn, "--customers", str(customers), "--rounds", str(rounds), "--pause", "0.01")
        for script, dsn in dsns.items()
    }
    try:
        wait_for(
            lambda: all(one(dsn, "select count(*) from eventstore.events") >= 30 for dsn in dsns.values()),
            "both runs under way",
        )
        assert all(process.poll() is None for process in runs.values()), "a run ended before the restart"
        cluster.stop("fast")
        time.sleep(0.3)
        cluster.start()
        outputs = {script: finish(process) for script, process in runs.items()}
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    balances, events, withdrawals = expected(customers, rounds)
    for script, dsn in dsns.items():
        assert projected(dsn) == balances, outputs[script]
        # Every request once, however often it was sent.
        assert one(dsn, "select count(*) from eventstore.events") == events
        assert one(dsn, "select count(*) from bank_alerts") == withdrawals
