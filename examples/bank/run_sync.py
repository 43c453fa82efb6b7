"""The bank, blocking: run the requests, follow them with a projection and a subscription.

    python examples/bank/run_sync.py [--customers N] [--rounds N] [--pause SECONDS]

The database is ``PGEVENTSTORE_DSN``; the store is installed (``migrate``) if it is
missing. It prints each account's balance from the aggregate and from the projection
and exits 1 if they differ. Run it twice, kill it midway, restart the server under it:
the balances stay right, because each request's command id makes sending it again
append nothing new (a second run's only effect is three refused openings: the accounts
are open), and the projection applies each event exactly once.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import bank
import psycopg

from pgeventstore import DomainError, EventStore, Projection, RecordedEvent, Repository, Subscription, schema


def send(repo: Repository[bank.Account], request: str, account: str, command: str, argument: object) -> str:
    """Execute one request; after a lost connection, the same request (same command id) again."""
    for attempt in range(1, 31):
        try:
            done = repo.execute(account, command, argument, command_id=bank.command_id(request))
            return f"ok, version {done.version}"
        except DomainError as refused:
            return f"refused: {refused}"
        except psycopg.OperationalError:
            # The server went away before the append (while loading): nothing was stored,
            # and whatever was, the same command id does not store twice.
            time.sleep(min(0.1 * attempt, 1.0))
    raise SystemExit(f"{request}: the database stayed unreachable")


def main() -> int:
    """Run the bank once; 0 when every balance agrees with the projection."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between requests")
    options = parser.parse_args()
    dsn = os.environ["PGEVENTSTORE_DSN"]
    schema.migrate(dsn)
    with EventStore(dsn) as store:
        with store.connection() as conn:
            for statement in bank.READ_MODELS:
                conn.execute(statement)

        def alert(event: RecordedEvent) -> None:
            row = bank.large_withdrawal(event)
            if row is not None:
                with store.connection() as conn:
                    conn.execute(bank.ALERT, row)

        balances = Projection(store, bank.BALANCES, bank.apply_balance, log_filter=bank.ACCOUNT_EVENTS)
        alerts = Subscription(store, bank.ALERTS, alert, log_filter=bank.ACCOUNT_EVENTS)
        followers = [threading.Thread(target=follower.run) for follower in (balances, alerts)]
        for follower in followers:
            follower.start()
        try:
            repo = Repository(store, bank.accounts)
            outcomes = {}
            for request, account, command, argument in bank.workload(options.customers, options.rounds):
                outcomes[request] = send(repo, request, account, command, argument)
                time.sleep(options.pause)
        finally:
            balances.stop()
            alerts.stop()
            for follower in followers:
                follower.join()
        # Whatever the live followers had not reached when they stopped.
        balances.catch_up()
        alerts.catch_up()
        refused = sum(outcome.startswith("refused") for outcome in outcomes.values())
        print(f"{len(outcomes)} requests, {refused} refused by the accounts' rules")
        wrong = 0
        with store.connection() as conn:
            projected = {row[0]: row[2] for row in conn.execute(bank.BALANCES_NOW)}
            alerted = conn.execute("select count(*) from bank_alerts").fetchone()
        for n in range(options.customers):
            state = repo.load(f"account-{n}").state
            shown = projected.get(f"account-{n}")
            wrong += state.balance_cents != shown
            print(f"account-{n}  {state.owner:12}  {state.balance_cents:>8} cents  (projection: {shown})")
        print(f"large withdrawals recorded: {alerted[0] if alerted else 0}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
