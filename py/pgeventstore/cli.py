"""The ``pgeventstore`` command line.

Exit codes (documented in the README, mapped in one place, :class:`StoreGroup`):
0 success, 1 unexpected failure, 2 usage error (bad option, argument or input),
3 wrong expected version, 4 not found, 5 duplicate event id, 6 invalid argument
rejected by the database, 7 cannot connect to the database.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import re
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import psycopg

from pgeventstore import __version__, schema, subscription
from pgeventstore.cluster import ClusterError
from pgeventstore.codec import exact_dumps, exact_loads
from pgeventstore.devserver import DevServer
from pgeventstore.errors import (
    DuplicateEventId,
    EventStoreError,
    InvalidArgument,
    LogDiverged,
    StreamNotFound,
    WrongExpectedVersion,
)
from pgeventstore.examples.demo import run_demo
from pgeventstore.store import EventStore
from pgeventstore.subscription import LogFilter
from pgeventstore.values import ANY, NO_STREAM, STREAM_EXISTS, ExpectedVersion, NewEvent, RecordedEvent

#: Exit code of each store error; anything else unexpected exits 1.
EXIT_CODES: dict[type[EventStoreError], int] = {
    WrongExpectedVersion: 3,
    StreamNotFound: 4,
    DuplicateEventId: 5,
    InvalidArgument: 6,
    LogDiverged: 8,
}
EXIT_USAGE = 2
EXIT_CANNOT_CONNECT = 7
EXIT_UNEXPECTED = 1

#: Events per append_to_stream call when appending or importing from a file.
BATCH_SIZE = 1000


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (newlines too) collapsed, for a one-line message."""
    return re.sub(r"\s+", " ", text).strip()


def fail(message: str, code: int) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    click.echo(f"pgeventstore: {one_line(message)}", err=True)
    sys.exit(code)


class StoreGroup(click.Group):
    """The command group that turns every failure into one stderr line and its exit code.

    This is the one place where exceptions meet exit codes: commands just raise.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map a failure to its exit code with one line on stderr."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.UsageError as error:
            command = f"pgeventstore {ctx.invoked_subcommand or ''}".strip()
            fail(f"{error.format_message()} (see '{command} --help')", EXIT_USAGE)
        except click.ClickException as error:
            fail(error.format_message(), EXIT_UNEXPECTED)
        except EventStoreError as error:
            hint = f". Hint: {error.hint}" if error.hint else ""
            fail(f"{error.message}{hint}", EXIT_CODES.get(type(error), EXIT_UNEXPECTED))
        except psycopg.OperationalError as error:
            # No SQLSTATE, or class 08: the server was never reached or the link broke.
            if error.sqlstate is None or error.sqlstate.startswith("08"):
                fail(f"cannot connect to the database: {error}", EXIT_CANNOT_CONNECT)
            fail(f"database error: {error}", EXIT_UNEXPECTED)
        except ClusterError as error:
            fail(str(error), EXIT_UNEXPECTED)
        except BrokenPipeError:
            # The reader went away (e.g. `pgeventstore export | head`): nothing to report.
            sys.stderr.close()
            ctx.exit(EXIT_UNEXPECTED)
        except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName) as error:
            message = error.diag.message_primary or str(error)
            fail(f"{message}: is the store installed? Run 'pgeventstore migrate'", EXIT_UNEXPECTED)
        except Exception as error:
            fail(f"unexpected error: {type(error).__name__}: {error}", EXIT_UNEXPECTED)


def require_dsn(ctx: click.Context) -> str:
    """The DSN given by ``--dsn`` or the environment, or a usage error."""
    dsn: str | None = ctx.find_root().obj.get("dsn")
    if not dsn:
        raise click.UsageError("no database given: pass --dsn or set PGEVENTSTORE_DSN or DATABASE_URL")
    return dsn


def open_store(ctx: click.Context) -> EventStore:
    """An EventStore on one connection of the command's own (closed when the command ends).

    JSON goes through :func:`exact_loads`/:func:`exact_dumps`, so no number loses a digit.
    """
    conn = psycopg.connect(require_dsn(ctx), autocommit=True)
    ctx.call_on_close(conn.close)
    return EventStore(conn, dumps=exact_dumps, loads=exact_loads)


def progress(items: Sequence[Any], label: str) -> contextlib.AbstractContextManager[Iterable[Any]]:
    """A progress bar over ``items`` on stderr when it is a terminal; just ``items`` otherwise."""
    if sys.stderr.isatty():
        return click.progressbar(items, label=label, file=sys.stderr)
    return contextlib.nullcontext(items)


@click.group(cls=StoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--dsn",
    envvar=["PGEVENTSTORE_DSN", "DATABASE_URL"],
    show_envvar=True,
    help="libpq connection string or URL of the database.",
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
    applied = schema.migrate(require_dsn(ctx))
    for migration_id in applied:
        click.echo(f"applied {migration_id}")
    click.echo(f"schema up to date ({len(applied)} migration(s) applied, functions installed)")


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """List applied and pending migrations."""
    for row in schema.status(require_dsn(ctx)):
        click.echo(f"{'applied' if row.applied else 'pending'}  {row.migration_id}")


@main.command("sql")
def sql_command() -> None:
    """Print the self-contained install script for a DBA (apply with psql -v ON_ERROR_STOP=1 -f)."""
    click.echo(schema.install_script(), nl=False)


#: The words ``--expected-version`` accepts besides a version number.
EXPECTED_VERSION_WORDS: Mapping[str, ExpectedVersion] = {
    "any": ANY,
    "no-stream": NO_STREAM,
    "stream-exists": STREAM_EXISTS,
}


def expected_version_option(ctx: click.Context, param: click.Parameter, value: str) -> ExpectedVersion:
    """The ExpectedVersion spelled by ``value``: any, no-stream, stream-exists or N >= 0."""
    text = value.strip().lower()
    if text in EXPECTED_VERSION_WORDS:
        return EXPECTED_VERSION_WORDS[text]
    if text.isdigit():
        return int(text)
    raise click.BadParameter(f"{value!r} is not any, no-stream, stream-exists or a version number >= 0")


def parse_json(text: str, what: str) -> Any:
    """``text`` parsed as JSON, or a usage error naming ``what``."""
    try:
        return exact_loads(text)
    except ValueError as error:
        raise click.UsageError(f"{what} is not valid JSON: {error}") from error


def event_from_item(item: Any, where: str) -> NewEvent:
    """The event of one parsed JSON line: an object with type, data and optionally metadata and id."""
    if not isinstance(item, dict):
        raise click.UsageError(f"{where} must be a JSON object with type and data")
    raw_id = item.get("id")
    try:
        event_id = uuid.UUID(raw_id) if raw_id is not None else None
    except (ValueError, TypeError, AttributeError) as error:
        raise click.UsageError(f"{where}: id {raw_id!r} is not a UUID") from error
    # A missing type or data is left for the database to reject (exit 6), like any bad value.
    event_type: Any = item.get("type")
    return NewEvent(event_type, item.get("data"), item.get("metadata"), event_id)


def read_lines(lines: Iterable[str], name: str) -> Iterator[tuple[str, dict[str, Any], NewEvent]]:
    """Each non-blank JSON line of a file: where it is, the parsed object and its event."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            where = f"{name} line {number}"
            item = parse_json(line, where)
            yield where, item, event_from_item(item, where)


def event_json(event: RecordedEvent) -> str:
    """One JSON line for an event: the format of ``read --json``, ``export`` and ``import``."""
    return exact_dumps(
        {
            "stream_id": event.stream_id,
            "version": event.version,
            "global_position": event.global_position,
            "id": str(event.id),
            "type": event.type,
            "data": event.data,
            "metadata": event.metadata,
            "recorded_at": event.recorded_at.isoformat(),
        }
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Lines of a plain text table with left-aligned columns."""
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def timestamp(value: datetime.datetime) -> str:
    """A timestamp to the second, in UTC."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def shorten(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def size(n: int) -> str:
    """A byte count for humans."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@main.command()
@click.argument("stream")
@click.argument("event_type", metavar="[TYPE]", required=False)
@click.argument("data", required=False)
@click.option(
    "--expected-version",
    "-e",
    metavar="any|no-stream|stream-exists|N",
    callback=expected_version_option,
    default="any",
    show_default=True,
    help="Append only if the stream is at this version.",
)
@click.option("--metadata", "-m", help="Metadata of the event, a JSON object.")
@click.option("--id", "event_id", type=click.UUID, help="Id of the event (makes a retry idempotent).")
@click.option(
    "--file",
    "-f",
    "events_file",
    type=click.File("r", encoding="utf-8"),
    help="Append a batch: JSON lines of {type, data, metadata?, id?} ('-' for stdin).",
)
@click.pass_context
def append(
    ctx: click.Context,
    stream: str,
    event_type: str | None,
    data: str | None,
    expected_version: ExpectedVersion,
    metadata: str | None,
    event_id: uuid.UUID | None,
    events_file: IO[str] | None,
) -> None:
    """Append one event of TYPE with DATA (JSON; from stdin when omitted), or a batch --file.

    A batch is appended in one transaction, all or nothing, 1000 events per call.
    """
    if events_file is not None:
        if event_type is not None or data is not None or metadata is not None or event_id is not None:
            raise click.UsageError("--file takes no TYPE, DATA, --metadata or --id: they are in the file")
        events = [event for _, _, event in read_lines(events_file, events_file.name)]
        if not events:
            raise click.UsageError(f"{events_file.name} holds no events")
    else:
        if event_type is None:
            raise click.UsageError("give the event TYPE (or a batch with --file)")
        if data is None or data == "-":
            if sys.stdin.isatty():
                raise click.UsageError("give DATA as JSON, or pipe it on stdin")
            data = sys.stdin.read()
        meta = parse_json(metadata, "--metadata") if metadata is not None else None
        events = [NewEvent(event_type, parse_json(data, "DATA"), meta, event_id)]
    store = open_store(ctx)
    chunks = [events[i : i + BATCH_SIZE] for i in range(0, len(events), BATCH_SIZE)]
    with store.connection() as conn, conn.transaction(), progress(chunks, f"appending to {stream}") as bar:
        expected = expected_version
        first_position: int | None = None
        for chunk in bar:
            result = store.append(stream, chunk, expected, conn=conn)
            expected = result.stream_version
            first_position = first_position if first_position is not None else result.first_position
    click.echo(
        f"appended {len(events)} event(s) to {stream}: now at version {result.stream_version}, "
        f"global positions {first_position}..{result.last_position}"
    )


@main.command()
@click.argument("stream")
@click.option("--from", "from_version", type=click.IntRange(min=-1), help="First version to read.")
@click.option("--limit", "-n", type=click.IntRange(min=1), help="Read at most this many events.")
@click.option("--backward", "-b", is_flag=True, help="Newest first, from --from or the end.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, all fields.")
@click.pass_context
def read(
    ctx: click.Context,
    stream: str,
    from_version: int | None,
    limit: int | None,
    backward: bool,
    as_json: bool,
) -> None:
    """Print the events of STREAM (exit 4 when it has none)."""
    store = open_store(ctx)
    page_size = min(limit or BATCH_SIZE, BATCH_SIZE)
    events = store.iter_stream(stream, from_version=from_version, backward=backward, page_size=page_size)
    selected = itertools.islice(events, limit)
    first = next(selected, None)
    if first is None:
        if store.stream_version(stream) == -1:
            raise StreamNotFound(
                f"stream {stream!r} has no events", hint="check the name with 'pgeventstore streams'"
            )
        return
    if as_json:
        for event in itertools.chain([first], selected):
            click.echo(event_json(event))
        return
    rows = (
        (e.version, e.global_position, e.type, timestamp(e.recorded_at), shorten(exact_dumps(e.data)))
        for e in itertools.chain([first], selected)
    )
    for line in table(["VERSION", "POSITION", "TYPE", "RECORDED", "DATA"], rows):
        click.echo(line)


@main.command()
@click.option("--category", "-c", help="Only streams of this category (the id before the first '-').")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--after", help="Continue a listing after this stream id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def streams(ctx: click.Context, category: str | None, limit: int, after: str | None, as_json: bool) -> None:
    """List streams with their versions, newest first."""
    listed = open_store(ctx).list_streams(category=category, limit=limit, after=after)
    if as_json:
        for info in listed:
            click.echo(
                json.dumps(
                    {
                        "stream_id": info.stream_id,
                        "version": info.version,
                        "created_at": info.created_at.isoformat(),
                        "updated_at": info.updated_at.isoformat(),
                    }
                )
            )
        return
    rows = ((s.stream_id, s.version, timestamp(s.created_at), timestamp(s.updated_at)) for s in listed)
    for line in table(["STREAM", "VERSION", "CREATED", "UPDATED"], rows):
        click.echo(line)


@main.command()
@click.pass_context
def stats(ctx: click.Context) -> None:
    """Counts and sizes: in total, per category and per event type."""
    result = open_store(ctx).stats()
    click.echo(
        f"{result.streams} streams, {result.events} events, {result.snapshots} snapshots; "
        f"payload {size(result.payload_bytes)}, on disk {size(result.disk_bytes)}"
    )
    if result.categories:
        click.echo("")
        rows = ((c.name, c.streams, c.events, c.snapshots, size(c.payload_bytes)) for c in result.categories)
        for line in table(["CATEGORY", "STREAMS", "EVENTS", "SNAPSHOTS", "PAYLOAD"], rows):
            click.echo(line)
        click.echo("")
        type_rows = ((t.name, t.streams, t.events, size(t.payload_bytes)) for t in result.types)
        for line in table(["TYPE", "STREAMS", "EVENTS", "PAYLOAD"], type_rows):
            click.echo(line)


@main.command()
@click.argument("stream")
@click.pass_context
def snapshot(ctx: click.Context, stream: str) -> None:
    """Show the snapshot stored for STREAM (exit 4 when there is none)."""
    found = open_store(ctx).load_snapshot(stream)
    if found is None:
        raise StreamNotFound(f"stream {stream!r} has no snapshot")
    click.echo(
        f"{stream} at version {found.version}, schema version {found.schema_version}, "
        f"saved {timestamp(found.recorded_at)}"
    )
    click.echo(exact_dumps(found.state))


@main.command()
@click.option(
    "--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File to write ('-': stdout)."
)
@click.option("--category", "-c", help="Only streams of this category.")
@click.pass_context
def export(ctx: click.Context, output: IO[str], category: str | None) -> None:
    """Write every event as JSON lines, stream by stream, oldest stream first.

    The export reads one consistent snapshot of the store (a repeatable read transaction).
    """
    store = open_store(ctx)
    with store.connection() as conn, conn.transaction():
        conn.execute("set transaction isolation level repeatable read, read only")
        listed = [info.stream_id for info in store.iter_streams(category=category, conn=conn)]
        count = 0
        with progress(listed[::-1], "exporting") as bar:
            for stream_id in bar:
                for event in store.iter_stream(stream_id, page_size=BATCH_SIZE, conn=conn):
                    output.write(event_json(event) + "\n")
                    count += 1
    if sys.stderr.isatty():
        click.echo(f"exported {count} event(s) of {len(listed)} stream(s)", err=True)


@main.command("import")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.pass_context
def import_command(ctx: click.Context, source: IO[str]) -> None:
    """Append the events of an export (JSON lines; '-' or nothing for stdin).

    Every event keeps its stream, version and id. The whole file is read and checked
    before anything is written. Importing the same file again writes nothing (each batch
    carries its ids, which makes its append idempotent); a stream that already holds other
    events at those versions is a conflict (exit 3).
    """
    batches: list[tuple[str, int, list[NewEvent]]] = []
    for where, item, event in read_lines(source, source.name):
        stream, version = item.get("stream_id"), item.get("version")
        if not isinstance(stream, str) or not isinstance(version, int) or event.id is None:
            raise click.UsageError(f"{where}: an imported event needs stream_id, version and id")
        last = batches[-1] if batches else None
        if last is not None and last[0] == stream and len(last[2]) < BATCH_SIZE:
            last[2].append(event)
        else:
            batches.append((stream, version, [event]))
    store = open_store(ctx)
    with progress(batches, "importing") as bar:
        for stream, first_version, events in bar:
            # Expecting the version before the batch's first event restores every version,
            # and makes a repeated batch a no-op instead of a second copy.
            store.append(stream, events, first_version - 1)
    total = sum(len(events) for _, _, events in batches)
    streams_seen = len({stream for stream, _, _ in batches})
    click.echo(f"imported {total} event(s) into {streams_seen} stream(s)")


DEV_HOME = click.option(
    "--dev-home",
    envvar="PGEVENTSTORE_DEV_HOME",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the embedded development cluster (env PGEVENTSTORE_DEV_HOME; default: "
    "$XDG_DATA_HOME/pgeventstore/dev-cluster, as root /var/lib/pgeventstore/dev-cluster).",
)


@main.command()
@DEV_HOME
@click.pass_context
def demo(ctx: click.Context, dev_home: Path | None) -> None:
    """Run the Order Processing example: commands, a rejected one, then every order rebuilt.

    Without a DSN it uses the embedded development cluster (see dev-server), starting it
    if needed and stopping it again afterwards; its data survives, so each run adds orders.
    """
    dsn: str | None = ctx.obj.get("dsn")
    server = None if dsn else DevServer(dev_home)
    started = False
    try:
        if server is not None:
            dsn = server.url()
            if dsn is None:
                dsn, started = server.start().url, True
            click.echo(f"embedded PostgreSQL cluster in {server.home}")
        assert dsn is not None
        schema.migrate(dsn)
        run_demo(dsn, click.echo)
    finally:
        if server is not None and started:
            server.stop()


@main.group("dev-server")
@DEV_HOME
@click.pass_context
def dev_server(ctx: click.Context, dev_home: Path | None) -> None:
    """Manage the embedded development cluster (the demo's database when no DSN is given).

    It is private to the user who created it: logins need the password it generated,
    kept in the passfile in its home (mode 600), which its URL names.
    """
    ctx.obj["dev_server"] = DevServer(dev_home)


@dev_server.command("start")
@click.pass_context
def dev_server_start(ctx: click.Context) -> None:
    """Create the cluster if needed and start it (on the port it had before); print its URL."""
    started = ctx.obj["dev_server"].start()
    if started.moved_from is not None:
        click.echo(
            f"pgeventstore: port {started.moved_from} is taken by another program: the cluster now "
            "listens on another one (update PGEVENTSTORE_DSN)",
            err=True,
        )
    click.echo(started.url)


@dev_server.command("stop")
@click.pass_context
def dev_server_stop(ctx: click.Context) -> None:
    """Stop the cluster (its data stays)."""
    stopped = ctx.obj["dev_server"].stop()
    click.echo("stopped" if stopped else "not running")


@dev_server.command("status")
@click.pass_context
def dev_server_status(ctx: click.Context) -> None:
    """Print where the cluster lives, whether it exists, and whether it runs."""
    status = ctx.obj["dev_server"].status()
    click.echo(f"home: {status.home}")
    click.echo(f"initialized: {'yes' if status.initialized else 'no'}")
    click.echo(f"running: {'yes, ' + status.url if status.url else 'no'}")


@dev_server.command("url")
@click.pass_context
def dev_server_url(ctx: click.Context) -> None:
    """Print the cluster's URL (for PGEVENTSTORE_DSN); exit 1 when it is not running.

    The URL carries no password: its passfile parameter names the file holding it.
    """
    url = ctx.obj["dev_server"].url()
    if url is None:
        fail("the development cluster is not running: pgeventstore dev-server start", 1)
    click.echo(url)


@main.command()
@click.option("--category", "-c", help="Only streams of this category (the id before the first '-').")
@click.option(
    "--from",
    "after",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Start after this log number (a checkpoint; 0: the start of the log).",
)
@click.option("--type", "-t", "event_types", multiple=True, help="Only events of this type (repeatable).")
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep following new events until Ctrl-C, or exit once caught up.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    help="Seconds between polls when no NOTIFY wakes it up.",
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
    """Print the global log, one event a line: log number, stream@version, type, data.

    The log in its one order (see the documentation, "The global log"): an event is
    printed once every transaction older than its own has ended. --from takes a log
    number; beyond the newest one, nothing is printed yet.
    """
    log_filter = LogFilter(category=category, event_types=list(event_types) or None)
    events: Iterator[RecordedEvent]
    if follow:
        events = subscription.follow(
            require_dsn(ctx), after, log_filter, poll_interval=poll_interval, loads=exact_loads
        )
    else:
        events = open_store(ctx).read_all(after, event_types=log_filter.event_types, category=category)
    try:
        for event in events:
            click.echo(
                f"{event.log_number}\t{event.stream_id}@{event.version}\t{event.type}\t"
                f"{exact_dumps(event.data)}"
            )
    except KeyboardInterrupt:
        return


@main.command()
@click.pass_context
def subscriptions(ctx: click.Context) -> None:
    """List every subscription's checkpoint, how far it is behind, and what holds it back."""
    rows = (
        (
            lag.subscription,
            lag.position,
            lag.events_behind,
            lag.events_held_back,
            "-"
            if lag.held_back_by_pid is None or lag.held_back_since is None
            else f"pid {lag.held_back_by_pid} since {timestamp(lag.held_back_since)}",
        )
        for lag in open_store(ctx).subscription_lag()
    )
    for line in table(["SUBSCRIPTION", "CHECKPOINT", "BEHIND", "HELD BACK", "HELD BACK BY"], rows):
        click.echo(line)


@main.command()
@click.option("--quick", is_flag=True, help="A smoke run with tiny workloads (what the test suite runs).")
@click.option(
    "--rounds", type=click.IntRange(1), default=None, help="Rounds per workload [default: 5; 2 with --quick]."
)
@click.option(
    "--durability",
    type=click.Choice(["durable", "fast", "both"]),
    default="durable",
    show_default=True,
    help="durable: the server's defaults (fsync, synchronous_commit on); fast: CPU-bound, without "
    "flushes (a private cluster runs with fsync off; a --dsn server gets synchronous_commit=off "
    "per session); both: one run of each.",
)
@click.option("--growth", is_flag=True, help="Workload 9 with 5,000,000 events in the store (long).")
@click.option("--json-out", type=click.Path(dir_okay=False), help="Write the results as JSON to this file.")
@click.option(
    "--plot", type=click.Path(dir_okay=False), help="Draw the ratios as a PNG (needs the 'bench' extra)."
)
@click.option(
    "--markdown", is_flag=True, help="Print the tables as Markdown (as docs/performance.md shows them)."
)
@click.option(
    "--scratch-prefix",
    default="pgeventstore_bench_",
    show_default=True,
    help="Name prefix of the scratch databases the benchmark creates and drops.",
)
@click.pass_context
def bench(
    ctx: click.Context,
    quick: bool,
    rounds: int | None,
    durability: str,
    growth: bool,
    json_out: str | None,
    plot: str | None,
    markdown: bool,
    scratch_prefix: str,
) -> None:
    """Measure the store against plain SQL on the same tables, in one run.

    With --dsn (or PGEVENTSTORE_DSN) it creates scratch databases on that server (the role
    needs CREATEDB) and drops them afterwards; without, it starts a private cluster.
    """
    # Imported here so that the other commands neither load the benchmark nor conflict with it.
    import contextlib

    from pgeventstore import bench as benchmark
    from pgeventstore.cluster import FAST_SETTINGS, temporary_cluster

    if plot:
        try:
            import matplotlib  # noqa: F401 - checked before a long run, used by bench.plot
        except ImportError:
            fail("--plot needs matplotlib: pip install 'pgeventstore[bench]'", 2)
    dsn: str | None = ctx.obj.get("dsn")
    modes = ["durable", "fast"] if durability == "both" else [durability]
    reports = []
    for mode in modes:
        with contextlib.ExitStack() as stack:
            admin_dsn = dsn
            if not admin_dsn:
                settings = dict(FAST_SETTINGS) if mode == "fast" else {}
                admin_dsn = stack.enter_context(temporary_cluster(settings=settings)).dsn()
            run = benchmark.Bench(
                admin_dsn,
                scale=benchmark.QUICK if quick else benchmark.FULL,
                rounds=rounds or (2 if quick else 5),
                growth=growth,
                durability=mode,
                prefix=scratch_prefix,
            )
            with click.progressbar(length=run.steps, label=f"bench ({mode})", file=sys.stderr) as bar:

                def progress(label: str, mode: str = mode) -> None:
                    bar.label = f"bench ({mode}): {label}"
                    bar.update(1)

                run.progress = progress
                try:
                    report = run.run()
                except psycopg.OperationalError as error:
                    fail(f"cannot connect: {error}".strip(), 7)
        reports.append(report)
        click.echo(benchmark.format_markdown(report) if markdown else benchmark.format_table(report))
        click.echo()
    if json_out:
        with open(json_out, "w", encoding="utf-8") as out:
            json.dump({"runs": reports}, out, indent=2)
            out.write("\n")
        click.echo(f"results written to {json_out}")
    if plot:
        benchmark.plot(reports, plot)
        click.echo(f"chart written to {plot}")
