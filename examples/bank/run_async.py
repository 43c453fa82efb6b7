"""The bank on asyncio: ``run_sync.py``'s requests and followers, awaited.

    python examples/bank/run_async.py [--customers N] [--rounds N] [--pause SECONDS]

The same accounts, command ids, projection and subscription as the blocking version
(``bank.py``), on :class:`~pgeventstore.AsyncEventStore`; both versions may run on one
database, one after the other or side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import bank
import psycopg

from pgeventstore import (
    AsyncEventStore,
    AsyncProjection,
    AsyncRepository,
    AsyncSubscription,
    DomainError,
    RecordedEvent,
    schema,
)


async def send(
    repo: AsyncRepository[bank.Account], request: str, account: str, command: str, argument: object
) -> str:
    """Execute one request; after a lost connection, the same request (same command id) again."""
    for attempt in range(1, 31):
        try:
            done = await repo.execute(account, command, argument, command_id=bank.command_id(request))
            return f"ok, version {done.version}"
        except DomainError as refused:
            return f"refused: {refused}"
        except psycopg.OperationalError:
            await asyncio.sleep(min(0.1 * attempt, 1.0))
    raise SystemExit(f"{request}: the database stayed unreachable")


async def main() -> int:
    """Run the bank once; 0 when every balance agrees with the projection."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between requests")
    options = parser.parse_args()
    dsn = os.environ["PGEVENTSTORE_DSN"]
    schema.migrate(dsn)
    async with AsyncEventStore(dsn) as store:
        async with store.connection() as conn:
            for statement in bank.READ_MODELS:
                await conn.execute(statement)

        async def alert(event: RecordedEvent) -> None:
            row = bank.large_withdrawal(event)
            if row is not None:
                async with store.connection() as conn:
                    await conn.execute(bank.ALERT, row)

        balances = AsyncProjection(
            store, bank.BALANCES, bank.apply_balance_async, log_filter=bank.ACCOUNT_EVENTS
        )
        alerts = AsyncSubscription(store, bank.ALERTS, alert, log_filter=bank.ACCOUNT_EVENTS)
        followers = [asyncio.create_task(balances.run()), asyncio.create_task(alerts.run())]
        try:
            repo = AsyncRepository(store, bank.accounts)
            outcomes = {}
            for request, account, command, argument in bank.workload(options.customers, options.rounds):
                outcomes[request] = await send(repo, request, account, command, argument)
                await asyncio.sleep(options.pause)
        finally:
            balances.stop()
            alerts.stop()
            await asyncio.gather(*followers)
        await balances.catch_up()
        await alerts.catch_up()
        refused = sum(outcome.startswith("refused") for outcome in outcomes.values())
        print(f"{len(outcomes)} requests, {refused} refused by the accounts' rules")
        wrong = 0
        async with store.connection() as conn:
            projected = {row[0]: row[2] for row in await (await conn.execute(bank.BALANCES_NOW)).fetchall()}
            alerted = await (await conn.execute("select count(*) from bank_alerts")).fetchone()
        for n in range(options.customers):
            state = (await repo.load(f"account-{n}")).state
            shown = projected.get(f"account-{n}")
            wrong += state.balance_cents != shown
            print(f"account-{n}  {state.owner:12}  {state.balance_cents:>8} cents  (projection: {shown})")
        print(f"large withdrawals recorded: {alerted[0] if alerted else 0}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
