"""The ``pgeventstore`` command line.

Exit codes: 0 success, 1 unexpected failure, 2 usage error (bad option or argument),
3 wrong expected version, 4 stream not found, 5 duplicate event id, 6 invalid argument
rejected by the database, 7 cannot connect to the database.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import click
import psycopg

from pgeventstore import __version__, schema, subscription
from pgeventstore.cluster import temporary_cluster
from pgeventstore.errors import EventStoreError, InvalidArgument, StreamNotFound
from pgeventstore.subscription import LogFilter
from pgeventstore.values import RecordedEvent

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    click.echo(f"pgeventstore: {message}", err=True)
    sys.exit(code)


def require_dsn(ctx: click.Context) -> str:
    """The DSN given by ``--dsn`` or the environment, or a usage error."""
    dsn: str | None = ctx.obj.get("dsn")
    if not dsn:
        fail("no database given: pass --dsn or set PGEVENTSTORE_DSN or DATABASE_URL", 2)
    return dsn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--dsn",
    envvar=["PGEVENTSTORE_DSN", "DATABASE_URL"],
    show_envvar=True,
    help="libpq connection string or URL of the database (env PGEVENTSTORE_DSN, then DATABASE_URL).",
)
@click.version_option(__version__, prog_name="pgeventstore")
@click.pass_context
def main(ctx: click.Context, dsn: str | None) -> None:
    """pgeventstore: a PostgreSQL event store whose guarantees live in the database."""
    ctx.ensure_object(dict)
    ctx.obj["dsn"] = dsn


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply pending migrations and (re)install the functions."""
    dsn = require_dsn(ctx)
    try:
        applied = schema.migrate(dsn)
    except psycopg.OperationalError as error:
        fail(f"cannot connect: {error}".strip(), 7)
    for migration_id in applied:
        click.echo(f"applied {migration_id}")
    click.echo(f"schema up to date ({len(applied)} migration(s) applied, functions installed)")


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """List applied and pending migrations."""
    dsn = require_dsn(ctx)
    try:
        rows = schema.status(dsn)
    except psycopg.OperationalError as error:
        fail(f"cannot connect: {error}".strip(), 7)
    for row in rows:
        click.echo(f"{'applied' if row.applied else 'pending'}  {row.migration_id}")


@main.command("sql")
def sql_command() -> None:
    """Print the self-contained install script for a DBA (apply with psql -v ON_ERROR_STOP=1 -f)."""
    click.echo(schema.install_script(), nl=False)


@main.command()
def demo() -> None:
    """Start a throwaway PostgreSQL, install the store, append and read a stream."""
    with temporary_cluster() as cluster:
        dsn = cluster.dsn()
        schema.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            events = [
                {"type": "OrderPlaced", "data": {"items": 2, "total_cents": 4200}},
                {"type": "OrderShipped", "data": {"tracking": "1Z999"}},
            ]
            result = conn.execute(
                "select * from eventstore.append_to_stream('order-1', -1, %s::jsonb)",
                (json.dumps(events),),
            ).fetchone()
            click.echo(f"appended: {result}")
            for row in conn.execute(
                "select version, global_position, event_type, data from eventstore.read_stream('order-1')"
            ):
                click.echo(f"read: {row}")


def _log_command_failure(error: Exception) -> NoReturn:
    """Exit with the documented code for a failure of ``tail`` or ``subscriptions``."""
    if isinstance(error, InvalidArgument):
        fail(f"{error.message} ({error.hint})" if error.hint else error.message, 6)
    if isinstance(error, StreamNotFound):
        fail(f"{error.message} ({error.hint})" if error.hint else error.message, 4)
    if isinstance(error, psycopg.OperationalError):
        fail(f"cannot connect: {error}".strip(), 7)
    raise error


@main.command()
@click.option("--category", help="Follow only the streams of this category (the part before '-').")
@click.option(
    "--from",
    "after",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Start after the event at this global position (a checkpoint; 0 is the start of the log).",
)
@click.option("--type", "event_types", multiple=True, help="Only events of this type (repeatable).")
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep following new events (stop with Ctrl-C), or exit once caught up.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    help="Seconds between polls when no NOTIFY arrives.",
)
@click.pass_context
def tail(
    ctx: click.Context,
    category: str | None,
    after: int,
    event_types: tuple[str, ...],
    follow: bool,
    poll_interval: float,
) -> None:
    """Print the global log, one event a line: position, stream@version, type, data."""
    dsn = require_dsn(ctx)
    log_filter = LogFilter(category=category, event_types=list(event_types) or None)
    try:
        if follow:
            events: Iterator[RecordedEvent] = subscription.follow(
                dsn, after, log_filter, poll_interval=poll_interval
            )
        else:
            events = _caught_up(dsn, after, log_filter)
        for event in events:
            click.echo(
                f"{event.global_position}\t{event.stream_id}@{event.version}\t{event.type}\t"
                f"{json.dumps(event.data, separators=(',', ':'))}"
            )
    except KeyboardInterrupt:
        return
    except (EventStoreError, psycopg.OperationalError) as error:
        _log_command_failure(error)


def _caught_up(dsn: str, after: int, log_filter: LogFilter) -> Iterator[RecordedEvent]:
    """Every event readable now after ``after``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield from subscription.iter_log(conn, after, log_filter=log_filter)


@main.command()
@click.pass_context
def subscriptions(ctx: click.Context) -> None:
    """List every subscription's checkpoint, how far it is behind, and what holds it back."""
    dsn = require_dsn(ctx)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = subscription.subscription_lag(conn)
    except (EventStoreError, psycopg.OperationalError) as error:
        _log_command_failure(error)
    click.echo("subscription\tcheckpoint\tbehind\theld_back\theld_back_by")
    for row in rows:
        holder = (
            f"pid {row.held_back_by_pid} since {row.held_back_since:%Y-%m-%d %H:%M:%S%z}"
            if (row.held_back_by_pid is not None and row.held_back_since is not None)
            else "-"
        )
        click.echo(
            f"{row.subscription}\t{row.position}\t{row.events_behind}\t{row.events_held_back}\t{holder}"
        )
