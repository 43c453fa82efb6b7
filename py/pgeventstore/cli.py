"""The ``pgeventstore`` command line.

Every failure ends with one line on stderr and an exit code scripts can rely on; the
codes are documented in the README ("Command line") and mapped in one place,
:func:`explain`:

0 success (also when the reader of the output went away, as in ``export | head``),
1 unexpected failure, 2 usage or input error (bad option, argument, JSON, UTF-8, DSN),
3 wrong expected version, 4 not found, 5 duplicate event id, 6 input the database refused
(ES400 and PostgreSQL's own data errors), 7 cannot connect, 8 the log diverged (ES419),
9 permission denied (the line names the role to grant), 10 the schema is missing or
has pending migrations (``migrate`` fixes it; ``status --check`` tests it), 11 ``demo``
refused a database holding other data, 12 the database takes no writes (25006), 13 the
stream is tombstoned (ES410), 14 personal data refused: the append names a forgotten
data subject (ES451) or the database has no pgcrypto (ES452), 15 the router of a sharded
store does not answer the call (ES501: call it on each shard), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click
import psycopg
from psycopg.conninfo import conninfo_to_dict

from pgeventstore import __version__, schema, shard, subscription
from pgeventstore.cluster import ClusterError
from pgeventstore.codec import exact_dumps, exact_loads
from pgeventstore.devserver import DATABASE, DevServer
from pgeventstore.errors import (
    DuplicateEventId,
    EncryptionUnavailable,
    EventStoreError,
    InvalidArgument,
    LogDiverged,
    NotOnRouter,
    ReadOnlyStore,
    StreamDeleted,
    StreamNotFound,
    SubjectForgotten,
    WrongExpectedVersion,
)
from pgeventstore.examples.demo import foreign_data, run_demo
from pgeventstore.store import APPEND_SQL, Call, EventStore
from pgeventstore.subscription import LogFilter
from pgeventstore.values import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    ScavengedEvents,
)

F = TypeVar("F", bound=Callable[..., Any])

#: Exit code of each store error; anything else unexpected exits 1.
#: 25006: a logical subscriber of the log, a hot standby or a read-only transaction.
EXIT_READ_ONLY = 12
EXIT_CODES: dict[type[EventStoreError], int] = {
    WrongExpectedVersion: 3,
    StreamNotFound: 4,
    DuplicateEventId: 5,
    InvalidArgument: 6,
    LogDiverged: 8,
    ReadOnlyStore: EXIT_READ_ONLY,
    StreamDeleted: 13,
    SubjectForgotten: 14,
    EncryptionUnavailable: 14,
    NotOnRouter: 15,
}
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_REFUSED_INPUT = 6
EXIT_CANNOT_CONNECT = 7
EXIT_PERMISSION = 9
EXIT_SCHEMA = 10
EXIT_NOT_DEMO_DATA = 11
EXIT_INTERRUPTED = 130

#: At most this many events, and about this many bytes of JSON, per append_to_stream call
#: when appending or importing from a file (far below the batch limits of the SQL API).
BATCH_SIZE = 1000
BATCH_BYTES = 16 * 1024 * 1024

#: The largest bigint: versions and positions beyond it cannot reach the database.
BIGINT_MAX = 2**63 - 1

#: The libpq environment variables that name a database, as psql reads them.
LIBPQ_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")

#: Keys of an exported line that say where the event was, not what it is: ``import``
#: takes them off; every other key goes to append_to_stream, which refuses unknown ones.
EXPORT_ONLY_KEYS = frozenset({"stream_id", "version", "global_position", "log_number", "recorded_at"})


class InputError(click.ClickException):
    """Input the command line cannot send (not UTF-8, not JSON, not an export line): exit 2."""

    exit_code = EXIT_USAGE


class Located(Exception):
    """``error`` raised for the lines ``where`` of an input file."""

    def __init__(self, where: str, error: Exception) -> None:
        super().__init__(f"{where}: {error}")
        self.where = where
        self.error = error


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (newlines too) collapsed, for a one-line message."""
    return re.sub(r"\s+", " ", text).strip()


def fail(message: str, code: int) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    click.echo(f"pgeventstore: {one_line(message)}", err=True)
    sys.exit(code)


def permission_hint(error: psycopg.Error, dsn: str | None) -> str:
    """What to grant for a ``permission denied`` error.

    The lowest store role that has the privilege, as the database's own grants say
    (sql/grants.sql), asked on a new connection.
    """
    message = error.diag.message_primary or str(error)
    found = re.fullmatch(r"permission denied for (function \S+|schema eventstore)", message)
    if found is None or dsn is None:
        return "connect as a role that holds this privilege, or have it granted"
    kind, name = found[1].split(" ")
    query = (
        "select r.name, current_user from unnest(array['eventstore_reader', 'eventstore_writer', "
        "'eventstore_maintenance', 'eventstore_admin']) with ordinality as r(name, rank) "
        "where case when %(kind)s = 'schema' then pg_catalog.has_schema_privilege(r.name, %(name)s, 'usage') "
        "else exists (select from "
        "pg_catalog.pg_proc p where p.pronamespace = 'eventstore'::regnamespace and p.proname = %(name)s "
        "and pg_catalog.has_function_privilege(r.name, p.oid, 'execute')) end order by r.rank limit 1"
    )
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(query, {"kind": kind, "name": name}).fetchone()
    except psycopg.Error:
        row = None
    if row is None:
        return "connect as a role that holds this privilege, or have it granted"
    role, user = row
    more = " (eventstore_writer to append)" if kind == "schema" else ""
    return f"a DBA must grant {role}{more} to {user}: grant {role} to {user}"


def explain(error: BaseException, dsn: str | None) -> tuple[str, int]:
    """The one line and the exit code for ``error``: the one place failures meet exit codes."""
    if isinstance(error, Located):
        message, code = explain(error.error, dsn)
        return f"{error.where}: {message}", code
    if isinstance(error, EventStoreError):
        hint = f". Hint: {error.hint}" if error.hint else ""
        return f"{error.message}{hint}", EXIT_CODES.get(type(error), EXIT_UNEXPECTED)
    if isinstance(error, InputError | click.FileError):
        return error.format_message(), EXIT_USAGE
    if isinstance(error, click.ClickException):
        return error.format_message(), EXIT_UNEXPECTED
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        message = error.diag.message_primary or str(error)
        return f"{message}: {permission_hint(error, dsn)}", EXIT_PERMISSION
    if isinstance(error, psycopg.errors.UndefinedFunction | psycopg.errors.InvalidSchemaName):
        message = error.diag.message_primary or str(error)
        return f"{message}: the store is missing or older than this release: run 'pgeventstore migrate'", (
            EXIT_SCHEMA
        )
    if isinstance(error, psycopg.DataError | psycopg.errors.ProgramLimitExceeded):
        more = [text for text in (error.diag.message_detail, error.diag.message_hint) if text]
        message = error.diag.message_primary or str(error)
        said = f" ({' '.join(more)})" if more else ""
        return f"the database refused the input: {message}{said}", EXIT_REFUSED_INPUT
    if isinstance(error, psycopg.OperationalError):
        # No SQLSTATE, or class 08: the server was never reached or the link broke.
        if error.sqlstate is None or error.sqlstate.startswith("08"):
            return f"cannot connect to the database: {error}", EXIT_CANNOT_CONNECT
        return f"database error: {error}", EXIT_UNEXPECTED
    if isinstance(error, psycopg.Error) and error.sqlstate:
        # Any other refusal of the server: its own message and hint say what to do.
        hint = f". Hint: {error.diag.message_hint}" if error.diag.message_hint else ""
        return f"{error.diag.message_primary or error}{hint}", EXIT_UNEXPECTED
    if isinstance(error, ClusterError):
        return str(error), EXIT_UNEXPECTED
    if isinstance(error, UnicodeError):
        return f"the input is not valid UTF-8 text ({error}): fix its encoding", EXIT_USAGE
    if isinstance(error, RecursionError):
        return "the JSON input nests too deeply for the command line: use the SQL API", EXIT_USAGE
    return f"unexpected error: {type(error).__name__}: {error}", EXIT_UNEXPECTED


class StoreGroup(click.Group):
    """The command group that turns every failure into one stderr line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map a failure to its exit code with one line on stderr (see :func:`explain`)."""
        try:
            result = super().invoke(ctx)
            # Buffered output meets a closed pipe here, not at exit.
            sys.stdout.flush()
            return result
        except click.exceptions.Exit:
            raise
        except (KeyboardInterrupt, click.Abort):
            # Ctrl-C: what was being written rolls back; the shell's convention is 128 + SIGINT.
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`pgeventstore read s-1 | head`): not a failure. Later
            # flushes of stdout would fail again, so it points at /dev/null from now on.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except click.exceptions.NoArgsIsHelpError as error:
            error.show()
            sys.exit(error.exit_code)
        except click.UsageError as error:
            command = f"pgeventstore {ctx.invoked_subcommand or ''}".strip()
            fail(f"{error.format_message()} (see '{command} --help')", EXIT_USAGE)
        except Exception as error:
            fail(*explain(error, ctx.obj.get("resolved_dsn") if ctx.obj else None))


def require_dsn(ctx: click.Context) -> str:
    """The database to use, or a usage error.

    ``--dsn`` (before or after the command), PGEVENTSTORE_DSN, DATABASE_URL, else libpq's
    own variables (PGHOST, PGDATABASE, ...) as psql uses them.
    """
    obj = ctx.find_root().obj
    dsn: str | None = obj.get("dsn")
    if not dsn:
        if not any(os.environ.get(name) for name in LIBPQ_VARIABLES):
            raise click.UsageError(
                "no database given: pass --dsn, or set PGEVENTSTORE_DSN, DATABASE_URL or libpq's "
                "PGHOST/PGDATABASE/PGUSER"
            )
        dsn = ""
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        raise InputError(
            f"the DSN is not a libpq connection string or URL ({one_line(str(error))}): write e.g. "
            "postgresql://user@localhost:5432/shop or 'host=localhost dbname=shop'"
        ) from error
    obj["resolved_dsn"] = dsn
    return dsn


def open_store(ctx: click.Context) -> EventStore:
    """An EventStore on one connection of the command's own (closed when the command ends).

    JSON goes through :func:`exact_loads`/:func:`exact_dumps`, so no number loses a digit.
    """
    conn = psycopg.connect(require_dsn(ctx), autocommit=True)
    ctx.call_on_close(conn.close)
    return EventStore(conn, dumps=exact_dumps, loads=exact_loads)


def open_reader(ctx: click.Context, replica: str | None) -> EventStore:
    """The store a read-only command reads: the hot standby ``replica`` when given, else the database.

    Reading a replica needs nothing from the primary, so the primary is not contacted.
    """
    if replica is None:
        return open_store(ctx)
    check_dsn(replica, "--replica")
    ctx.find_root().obj["resolved_dsn"] = replica
    conn = psycopg.connect(replica, autocommit=True)
    ctx.call_on_close(conn.close)
    return EventStore(conn, dumps=exact_dumps, loads=exact_loads)


def check_dsn(dsn: str, option: str) -> None:
    """An input error unless ``dsn`` is a libpq connection string or URL."""
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        raise InputError(
            f"{option}: not a libpq connection string or URL ({one_line(str(error))}): write e.g. "
            "postgresql://user@standby:5432/shop or 'host=standby dbname=shop'"
        ) from error


def replicated_store(ctx: click.Context, replica: str) -> EventStore:
    """A store on the database whose replica is the hot standby ``replica`` (closed when the command ends)."""
    check_dsn(replica, "--replica")
    store = EventStore(require_dsn(ctx), replicas=[replica], dumps=exact_dumps, loads=exact_loads)
    ctx.call_on_close(store.close)
    return store


#: ``--replica DSN`` of the read commands.
replica_option = click.option(
    "--replica",
    metavar="DSN",
    help="Read from this hot standby of the database instead (what it has replayed; it may lag).",
)
#: ``--replica DSN`` of the commands that read the global log as the database has it.
replica_log_option = click.option(
    "--replica",
    metavar="DSN",
    help="Read the events from this hot standby; the database numbers the log and is read "
    "when the standby lags more than 5 s.",
)


def _command_dsn(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().obj["dsn"] = value


#: ``--dsn`` after the command name too (it wins over the one before).
database_option = click.option(
    "--dsn",
    expose_value=False,
    callback=_command_dsn,
    help="libpq connection string or URL of the database (as before the command).",
)


def json_option(help_text: str) -> Callable[[F], F]:
    """The ``--json`` flag of a command."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


class Progress:
    """Events counted on stderr while it is a terminal.

    It shows how many, how fast, and how far through a known ``total`` (of whatever
    :meth:`advance`'s ``done`` measures).
    """

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.shown = sys.stderr.isatty()
        self.events = 0
        self.done = 0
        self._start = time.monotonic()
        self._drawn = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if self.shown:
            if kind is None:
                self._draw()
            click.echo("", err=True)

    def advance(self, events: int, done: int | None = None) -> None:
        """Count ``events`` more; ``done`` is the progress towards ``total`` (default: events)."""
        self.events += events
        self.done = self.events if done is None else done
        if self.shown and time.monotonic() - self._drawn >= 0.2:
            self._draw()

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        rate = self.events / max(self._drawn - self._start, 1e-3)
        percent = f"  {min(100, 100 * self.done // self.total):3d}%" if self.total else ""
        line = f"\r{self.label}{percent}  {self.events:,} events  {rate:,.0f}/s"
        sys.stderr.write(line)
        sys.stderr.flush()


#: The words ``--expected-version`` accepts besides a version number.
EXPECTED_VERSION_WORDS: Mapping[str, ExpectedVersion] = {
    "any": ANY,
    "no-stream": NO_STREAM,
    "stream-exists": STREAM_EXISTS,
}

_DIGITS = re.compile(r"-?[0-9]+", re.ASCII)


def whole_number(text: str, low: int, high: int) -> int:
    """``text`` as an integer written with the digits 0-9 in [low, high]; ValueError says why not."""
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{text!r} is not a whole number written with the digits 0-9")
    # Compared as text first: int() of thousands of digits is slow or refused.
    if len(text.lstrip("-").lstrip("0")) > 19 or not low <= int(text) <= high:
        raise ValueError(f"{text} is not between {low} and {high}")
    return int(text)


def whole_number_option(
    low: int, high: int = BIGINT_MAX
) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """The callback of an integer option in [low, high], digits 0-9 only (``int()`` takes ``'٣'`` as 3)."""

    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or isinstance(value, int):
            return value
        try:
            return whole_number(str(value), low, high)
        except ValueError as error:
            raise click.BadParameter(str(error), ctx, param) from error

    return convert


def expected_version_option(ctx: click.Context, param: click.Parameter, value: str) -> ExpectedVersion:
    """The ExpectedVersion spelled by ``value``: any, no-stream, stream-exists or a version.

    A number goes to the database as it is (-1 and -2 are its no-stream and stream-exists,
    and it refuses the rest below 0); only numbers beyond a bigint stop here.
    """
    text = value.strip().lower()
    if text in EXPECTED_VERSION_WORDS:
        return EXPECTED_VERSION_WORDS[text]
    try:
        return whole_number(text, -BIGINT_MAX - 1, BIGINT_MAX)
    except ValueError as error:
        raise click.BadParameter(
            f"{error}: give any, no-stream (-1), stream-exists (-2) or the stream's version"
        ) from error


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def parse_json(text: str, what: str) -> Any:
    """``text`` parsed as JSON with every digit kept, or an InputError naming ``what``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(f"{what} is not valid UTF-8 text (character {error.start + 1})") from error
    try:
        value = exact_loads(text)
    except RecursionError as error:
        raise InputError(f"{what} nests JSON too deeply for the command line: use the SQL API") from error
    except ValueError as error:
        raise InputError(f"{what} is not valid JSON: {error}") from error
    if _SURROGATE_ESCAPE.search(text):
        # \ud800 and its kin are half of a UTF-16 pair: alone they are no character, and
        # cannot be sent (PostgreSQL refuses them too).
        try:
            exact_dumps(value).encode("utf-8")
        except UnicodeEncodeError as error:
            raise InputError(
                f"{what} holds a \\u escape of half a surrogate pair (\\ud800 to \\udfff): no character"
            ) from error
    return value


def input_name(source: IO[bytes]) -> str:
    """How messages name an input file: its path, or stdin."""
    name = getattr(source, "name", "<stdin>")
    return "stdin" if name == "<stdin>" or not isinstance(name, str) else name


@dataclasses.dataclass(frozen=True)
class Line:
    """A non-blank line of a JSON-lines file: its number, its parsed value and its size in bytes."""

    number: int
    value: Any
    size: int


class JsonLines:
    """The lines of a JSON-lines file, read and parsed one at a time.

    Nothing waits for the whole file. ``consumed`` counts the bytes read so far and
    ``size`` is the file's (None for a pipe).
    """

    def __init__(self, source: IO[bytes], name: str) -> None:
        self.source = source
        self.name = name
        self.consumed = 0
        try:
            info = os.fstat(source.fileno())
        except (OSError, ValueError, AttributeError):
            info = None
        self.size = info.st_size if info is not None and info.st_size > 0 else None

    def __iter__(self) -> Iterator[Line]:
        for number, raw in enumerate(self.source, start=1):
            self.consumed += len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"{self.name} line {number} is not UTF-8 text (byte {error.start + 1} of the line)"
                ) from error
            if number == 1:
                text = text.removeprefix("\ufeff")
            if text.strip():
                yield Line(number, parse_json(text, f"{self.name} line {number}"), len(raw))


def batches(lines: Iterable[Line]) -> Iterator[list[Line]]:
    """``lines`` in groups of at most :data:`BATCH_SIZE` events and about :data:`BATCH_BYTES`."""
    batch: list[Line] = []
    size = 0
    for line in lines:
        if batch and (len(batch) >= BATCH_SIZE or size + line.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += line.size
    if batch:
        yield batch


def span(name: str, lines: Sequence[Line]) -> str:
    """Where ``lines`` are in the file ``name``."""
    first, last = lines[0].number, lines[-1].number
    return f"{name} line {first}" if first == last else f"{name} lines {first}-{last}"


def refused_line(dsn: str, lines: Sequence[Line]) -> Line | None:
    """The first of ``lines`` whose value the database's jsonb input refuses (on a new connection)."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            for line in lines:
                try:
                    conn.execute("select %s::jsonb", (exact_dumps(line.value),))
                except psycopg.DataError:
                    return line
    except psycopg.Error:
        return None
    return None


def append_lines(
    store: EventStore,
    conn: psycopg.Connection[Any],
    stream: str,
    expected: ExpectedVersion,
    lines: Sequence[Line],
    name: str,
    dsn: str,
) -> AppendResult:
    """Append the events of ``lines`` exactly as the file has them.

    append_to_stream decides what is valid (unknown keys, missing data, ...); a refusal
    names the file's line.
    """
    payload = exact_dumps([line.value for line in lines])
    call = Call(APPEND_SQL, (stream, expected, payload), lambda rows: AppendResult(*rows[0]))
    try:
        return store.run(call, conn)
    except InvalidArgument as error:
        if error.sqlstate != InvalidArgument.sqlstate:
            # PostgreSQL's jsonb input refused a value (class 22): find the line it holds.
            line = refused_line(dsn, lines)
            raise Located(span(name, [line] if line else lines), error) from error
        # The database names the batch's 0-based index of the event it refuses.
        index = error.event_index
        if index is not None and index < len(lines):
            refused = InvalidArgument(f"the event {error.problem}", hint=error.hint)
            raise Located(f"{name} line {lines[index].number}", refused) from error
        raise Located(span(name, lines), error) from error
    except psycopg.errors.ProgramLimitExceeded as error:
        line = refused_line(dsn, lines)
        raise Located(span(name, [line] if line else lines), error) from error
    except EventStoreError as error:
        raise Located(span(name, lines), error) from error


def event_json(event: RecordedEvent) -> str:
    """One JSON line for an event: the format of ``read --json``, ``export`` and ``import``.

    An event read from the global log (``tail --json``) also has its ``log_number``.
    """
    fields = {
        "stream_id": event.stream_id,
        "version": event.version,
        "global_position": event.global_position,
        "id": str(event.id),
        "type": event.type,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": event.recorded_at.isoformat(),
    }
    if event.log_number is not None:
        fields["log_number"] = event.log_number
    return exact_dumps(fields)


def value_json(value: Any) -> str:
    """One JSON line for a dataclass value (timestamps in ISO 8601, every digit kept)."""
    return exact_dumps(dataclasses.asdict(value))


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


def read_stdin(what: str) -> str:
    """All of stdin as UTF-8 text, or an InputError naming ``what``."""
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{what} on stdin is not UTF-8 text (byte {error.start + 1})") from error


@click.group(cls=StoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--dsn",
    envvar=["PGEVENTSTORE_DSN", "DATABASE_URL"],
    show_envvar=True,
    help="libpq connection string or URL of the database (else libpq's PGHOST, PGDATABASE, ...).",
)
@click.version_option(__version__, prog_name="pgeventstore")
@click.pass_context
def main(ctx: click.Context, dsn: str | None) -> None:
    """pgeventstore: a PostgreSQL event store whose guarantees live in the database."""
    # Failures get one line from explain(); psycopg's warnings about cleaning up after one
    # (a rollback on a connection that Ctrl-C interrupted mid-query) would add more.
    psycopg_log = logging.getLogger("psycopg")
    if not any(isinstance(handler, logging.NullHandler) for handler in psycopg_log.handlers):
        psycopg_log.addHandler(logging.NullHandler())
    ctx.ensure_object(dict)
    ctx.obj["dsn"] = dsn


@main.command()
@database_option
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply pending migrations and (re)install the functions."""
    applied = schema.migrate(require_dsn(ctx))
    for migration_id in applied:
        click.echo(f"applied {migration_id}")
    click.echo(f"schema up to date ({len(applied)} migration(s) applied, functions installed)")


@main.command()
@click.option("--check", is_flag=True, help=f"Exit {EXIT_SCHEMA} when a migration is pending (for scripts).")
@json_option("One JSON object per migration and line.")
@database_option
@click.pass_context
def status(ctx: click.Context, check: bool, as_json: bool) -> None:
    """List applied and pending migrations."""
    rows = schema.status(require_dsn(ctx))
    for row in rows:
        if as_json:
            click.echo(value_json(row))
        else:
            click.echo(f"{'applied' if row.applied else 'pending'}  {row.migration_id}")
    pending = sum(not row.applied for row in rows)
    if check and pending:
        sys.stdout.flush()
        fail(f"{pending} migration(s) pending: run 'pgeventstore migrate'", EXIT_SCHEMA)


@main.command("sql")
@click.option(
    "--upgrade",
    is_flag=True,
    help="Print the psql script that also upgrades an installed store (applies only what it lacks).",
)
def sql_command(upgrade: bool) -> None:
    """Print the self-contained install script for a DBA (apply with psql -v ON_ERROR_STOP=1 -f).

    Without --upgrade it is plain SQL for an empty database, which any client can run;
    with --upgrade it installs or upgrades like ``migrate``, and needs psql.
    """
    click.echo(schema.upgrade_script() if upgrade else schema.install_script(), nl=False)


@main.group("shard")
def shard_group() -> None:
    """A sharded store: a router database routing the store's functions to shards (PL/Proxy)."""


@shard_group.command("init")
@click.option(
    "--shard",
    "shards",
    multiple=True,
    required=True,
    metavar="DSN",
    help="A shard database, repeated in shard order (shard 0 first); the router's server uses it too.",
)
@click.option(
    "--partitions",
    type=int,
    default=256,
    show_default=True,
    help="How many partitions the streams are hashed into: a power of two, many per shard.",
)
@database_option
@click.pass_context
def shard_init(ctx: click.Context, shards: tuple[str, ...], partitions: int) -> None:
    """Install or upgrade the store on every shard and the routing on the router (--dsn)."""
    applied = shard.init(require_dsn(ctx), shards, partitions)
    click.echo(
        f"router up to date ({len(applied)} migration(s) applied), {len(shards)} shard(s), "
        f"{partitions} partitions"
    )


@shard_group.command("router-sql")
@click.argument("connstrs", nargs=-1, required=True, metavar="CONNSTR...")
@click.option(
    "--partitions",
    type=int,
    default=256,
    show_default=True,
    help="How many partitions the streams are hashed into: a power of two, many per shard.",
)
def shard_router_sql(connstrs: tuple[str, ...], partitions: int) -> None:
    """Print the install script of an empty router database, its shards' connection strings in order."""
    click.echo(shard.router_script(connstrs, partitions), nl=False)


@shard_group.command("shard-sql")
@click.argument("number", type=int)
def shard_shard_sql(number: int) -> None:
    """Print the install script of an empty database that becomes shard NUMBER."""
    click.echo(shard.shard_script(number), nl=False)


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
    help="Append only if the stream is at this version (-1: no-stream, -2: stream-exists).",
)
@click.option("--metadata", "-m", help="Metadata of the event, a JSON object.")
@click.option("--id", "event_id", type=click.UUID, help="Id of the event (makes a retry idempotent).")
@click.option(
    "--file",
    "-f",
    "events_file",
    type=click.File("rb"),
    help="Append a batch: JSON lines of {type, data, metadata?, id?} ('-' for stdin).",
)
@database_option
@click.pass_context
def append(
    ctx: click.Context,
    stream: str,
    event_type: str | None,
    data: str | None,
    expected_version: ExpectedVersion,
    metadata: str | None,
    event_id: uuid.UUID | None,
    events_file: IO[bytes] | None,
) -> None:
    """Append one event of TYPE with DATA (JSON; from stdin when omitted), or a batch --file.

    A batch is appended in one transaction, all or nothing, 1000 events per call, each
    line as it is: the database refuses a line with an unknown key or without data.
    """
    if events_file is not None:
        if event_type is not None or data is not None or metadata is not None or event_id is not None:
            raise click.UsageError("--file takes no TYPE, DATA, --metadata or --id: they are in the file")
        append_file(ctx, stream, expected_version, events_file)
        return
    if event_type is None:
        raise click.UsageError("give the event TYPE (or a batch with --file)")
    if data is None or data == "-":
        if sys.stdin.isatty():
            raise click.UsageError("give DATA as JSON, or pipe it on stdin")
        data = read_stdin("DATA")
    meta = parse_json(metadata, "--metadata") if metadata is not None else None
    event = NewEvent(event_type, parse_json(data, "DATA"), meta, event_id)
    result = open_store(ctx).append(stream, [event], expected_version)
    click.echo(
        f"appended 1 event(s) to {stream}: now at version {result.stream_version}, "
        f"global positions {result.first_position}..{result.last_position}"
    )


def append_file(ctx: click.Context, stream: str, expected: ExpectedVersion, source: IO[bytes]) -> None:
    """``append --file``: the file's events in one transaction, read as they are appended."""
    store = open_store(ctx)
    dsn = require_dsn(ctx)
    lines = JsonLines(source, input_name(source))
    count = 0
    first_position: int | None = None
    result: AppendResult | None = None
    with (
        Progress(f"appending to {stream}", total=lines.size) as bar,
        store.connection() as conn,
        conn.transaction(),
    ):
        for batch in batches(lines):
            result = append_lines(store, conn, stream, expected, batch, lines.name, dsn)
            expected = result.stream_version
            first_position = result.first_position if first_position is None else first_position
            count += len(batch)
            bar.advance(len(batch), lines.consumed)
    if result is None:
        raise InputError(f"{lines.name} holds no events")
    click.echo(
        f"appended {count} event(s) to {stream}: now at version {result.stream_version}, "
        f"global positions {first_position}..{result.last_position}"
    )


@main.command()
@click.argument("stream")
@click.option(
    "--from", "from_version", metavar="N", callback=whole_number_option(-1), help="First version to read."
)
@click.option(
    "--limit", "-n", metavar="N", callback=whole_number_option(1), help="Read at most this many events."
)
@click.option("--backward", "-b", is_flag=True, help="Newest first, from --from or the end.")
@json_option("One JSON object per line, all fields.")
@replica_option
@database_option
@click.pass_context
def read(
    ctx: click.Context,
    stream: str,
    from_version: int | None,
    limit: int | None,
    backward: bool,
    as_json: bool,
    replica: str | None,
) -> None:
    """Print the events of STREAM (exit 4 when it has none)."""
    store = open_reader(ctx, replica)
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
@click.option(
    "--limit",
    "-n",
    metavar="N",
    callback=whole_number_option(1, 100_000),
    default="100",
    type=str,
    show_default=True,
)
@click.option("--after", help="Continue a listing after this stream id.")
@json_option("One JSON object per line.")
@replica_option
@database_option
@click.pass_context
def streams(
    ctx: click.Context,
    category: str | None,
    limit: int,
    after: str | None,
    as_json: bool,
    replica: str | None,
) -> None:
    """List streams with their versions, newest first."""
    listed = open_reader(ctx, replica).list_streams(category=category, limit=limit, after=after)
    if as_json:
        for info in listed:
            click.echo(value_json(info))
        return
    rows = ((s.stream_id, s.version, timestamp(s.created_at), timestamp(s.updated_at)) for s in listed)
    for line in table(["STREAM", "VERSION", "CREATED", "UPDATED"], rows):
        click.echo(line)


@main.command()
@json_option("One JSON object: the totals, and lists of categories and types.")
@replica_option
@database_option
@click.pass_context
def stats(ctx: click.Context, as_json: bool, replica: str | None) -> None:
    """Counts and sizes: in total, per category and per event type."""
    result = open_reader(ctx, replica).stats()
    if as_json:
        click.echo(value_json(result))
        return
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
@json_option("One JSON object: stream_id, version, state, schema_version, recorded_at.")
@replica_option
@database_option
@click.pass_context
def snapshot(ctx: click.Context, stream: str, as_json: bool, replica: str | None) -> None:
    """Show the snapshot stored for STREAM (exit 4 when there is none)."""
    found = open_reader(ctx, replica).load_snapshot(stream)
    if found is None:
        raise StreamNotFound(f"stream {stream!r} has no snapshot")
    if as_json:
        click.echo(value_json(found))
        return
    click.echo(
        f"{stream} at version {found.version}, schema version {found.schema_version}, "
        f"saved {timestamp(found.recorded_at)}"
    )
    click.echo(exact_dumps(found.state))


#: ``--expected-version`` of ``delete`` and ``tombstone``: the stream's version, as for ``append``.
retire_expected_option = click.option(
    "--expected-version",
    "-e",
    metavar="any|no-stream|stream-exists|N",
    callback=expected_version_option,
    default="any",
    show_default=True,
    help="Only if the stream is at this version.",
)


@main.command("stream-metadata")
@click.argument("stream")
@click.argument("metadata", required=False)
@click.option(
    "--expected-version",
    "-e",
    metavar="any|none|N",
    default="any",
    show_default=True,
    help="With METADATA: only if the stored metadata version is this (none: no metadata yet).",
)
@json_option("Show the metadata and state as one JSON object.")
@database_option
@click.pass_context
def stream_metadata(
    ctx: click.Context, stream: str, metadata: str | None, expected_version: str, as_json: bool
) -> None:
    """Show STREAM's metadata and state, or replace its metadata with METADATA (a JSON object).

    Reserved keys: max_count (keep the newest N events readable), max_age (an interval such
    as "30 days": older events are not readable), truncate_before (versions below it are
    not readable); every other key is the application's. The rules apply to every read at
    once; 'pgeventstore scavenge' removes what they hide.
    """
    store = open_store(ctx)
    if metadata is None:
        found = store.get_stream_metadata(stream)
        if as_json:
            click.echo(value_json(found))
            return
        state = "tombstoned" if found.tombstoned else "deleted" if found.deleted else "live"
        click.echo(
            f"{stream}: {state}, metadata version {found.metadata_version}, "
            f"scavenged below version {found.scavenged_before}"
        )
        click.echo(exact_dumps(found.metadata))
        return
    words: Mapping[str, int | None] = {"any": None, "none": -1}
    text = expected_version.strip().lower()
    try:
        expected = words[text] if text in words else whole_number(text, -1, BIGINT_MAX)
    except ValueError as error:
        raise click.BadParameter(
            f"{error}: give any, none (-1) or the metadata version", ctx, param_hint="'--expected-version'"
        ) from error
    value = parse_json(metadata, "METADATA")
    if not isinstance(value, dict):
        raise InputError("METADATA must be a JSON object, e.g. '{\"max_count\": 100}'")
    version = store.set_stream_metadata(stream, value, expected)
    click.echo(f"set the metadata of {stream}: metadata version {version}")


@main.command()
@click.argument("stream")
@retire_expected_option
@database_option
@click.pass_context
def delete(ctx: click.Context, stream: str, expected_version: ExpectedVersion) -> None:
    """Soft-delete STREAM: it reads as absent until appended to again (its versions continue).

    The events stay stored until 'pgeventstore scavenge' removes them.
    """
    version = open_store(ctx).delete_stream(stream, expected_version)
    click.echo(
        f"deleted {stream} (its deletion is version {version}): it reads as absent; "
        "append with no-stream or any to start it again"
    )


@main.command()
@click.argument("stream")
@retire_expected_option
@database_option
@click.pass_context
def tombstone(ctx: click.Context, stream: str, expected_version: ExpectedVersion) -> None:
    """Tombstone STREAM for ever: every later append or read of it exits 13 (needs eventstore_admin)."""
    version = open_store(ctx).tombstone_stream(stream, expected_version)
    click.echo(f"tombstoned {stream} at version {version}: it can never be written or read again")


@main.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed now.")
@click.option(
    "--batch",
    "batch_size",
    metavar="N",
    callback=whole_number_option(1, 100_000),
    default="10000",
    type=str,
    show_default=True,
    help="At most this many events per batch (one transaction each).",
)
@json_option("One JSON object per stream and rule.")
@database_option
@click.pass_context
def scavenge(ctx: click.Context, dry_run: bool, batch_size: int, as_json: bool) -> None:
    """Remove the events that stream metadata, deletions and tombstones made unreadable.

    Online, in batches of one transaction each, until nothing is left; readers see the
    same events before and after. Needs eventstore_admin or eventstore_maintenance; each
    batch is recorded in the audit (eventstore.list_scavenges).
    """
    store = open_store(ctx)
    plan = store.scavenge(dry_run=True)
    if dry_run:
        report_scavenged(plan, as_json, "would remove")
        return
    removed: dict[tuple[str, str], ScavengedEvents] = {}
    with Progress("scavenging", total=sum(item.events_removed for item in plan)) as bar:
        while batch := store.scavenge(batch_size):
            for item in batch:
                before = removed.get((item.stream_id, item.rule))
                removed[(item.stream_id, item.rule)] = (
                    item
                    if before is None
                    else dataclasses.replace(
                        before,
                        events_removed=before.events_removed + item.events_removed,
                        last_version=item.last_version,
                    )
                )
            bar.advance(sum(item.events_removed for item in batch))
    report_scavenged(list(removed.values()), as_json, "removed")


def report_scavenged(items: Sequence[ScavengedEvents], as_json: bool, verb: str) -> None:
    """Print what a scavenge removed (or would remove): per stream and rule, then a total."""
    if as_json:
        for item in items:
            click.echo(value_json(item))
        return
    rows = ((i.stream_id, i.rule, i.events_removed, f"{i.first_version}..{i.last_version}") for i in items)
    if items:
        for line in table(["STREAM", "RULE", "EVENTS", "VERSIONS"], rows):
            click.echo(line)
    streams_count = len({item.stream_id for item in items})
    click.echo(f"{verb} {sum(i.events_removed for i in items)} event(s) of {streams_count} stream(s)")


@main.command()
@click.option(
    "--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File to write ('-': stdout)."
)
@click.option("--category", "-c", help="Only events of streams of this category.")
@replica_log_option
@database_option
@click.pass_context
def export(ctx: click.Context, output: IO[str], category: str | None, replica: str | None) -> None:
    """Write the global log as JSON lines, in log order, one event a line.

    Each line has the event's log_number, stream_id, version, id, type, data, metadata
    and recorded_at (and its global_position, which an import ignores). The log is
    numbered up to its head first, then read from one consistent snapshot (a repeatable
    read transaction), so importing the file into an empty store gives the same log.
    With --replica the snapshot is the standby's, once it has replayed those numbers.
    """
    store = open_store(ctx) if replica is None else replicated_store(ctx, replica)
    with store.connection() as conn:
        while store.number_log(conn=conn):
            pass
    if replica is not None:
        store = store.reader(store.wal_position())
    with store.connection() as conn, conn.transaction():
        conn.execute("set transaction isolation level repeatable read, read only")
        bar = Progress("exporting")
        if bar.shown:
            # The bar's 100%: the numbered events (a read of every event, so only for a terminal).
            bar.total = store.log_head(conn=conn)
        with bar:
            for event in store.read_all(category=category, page_size=BATCH_SIZE, conn=conn):
                output.write(event_json(event) + "\n")
                bar.advance(1)
    if bar.shown:
        click.echo(f"exported {bar.events} event(s)", err=True)


@main.command("import")
@click.argument("source", type=click.File("rb"), default="-")
@database_option
@click.pass_context
def import_command(ctx: click.Context, source: IO[bytes]) -> None:
    """Append the events of an export (JSON lines; '-' or nothing for stdin), in file order.

    Every event keeps its stream, version and id, and the log keeps the file's order.
    It all happens in one transaction: a refused line (with its line number: exit 6 for
    a malformed line, an unknown key or a missing data; exit 3 for a version that does
    not follow the stream's current one, or a gap) or Ctrl-C leaves nothing written.
    Events already stored with the same ids at the same versions are counted, not
    written again, so importing the same file twice writes nothing the second time.
    """
    store = open_store(ctx)
    dsn = require_dsn(ctx)
    lines = JsonLines(source, input_name(source))
    seen: set[str] = set()
    present = 0
    with Progress("importing", total=lines.size) as bar, store.connection() as conn, conn.transaction():
        for stream, first_version, batch in import_batches(lines):
            present += import_batch(store, conn, stream, first_version, batch, lines.name, dsn)
            seen.add(stream)
            bar.advance(len(batch), lines.consumed)
    written = bar.events - present
    click.echo(
        f"imported {written} event(s) into {len(seen)} stream(s), {present} already present"
        if present
        else f"imported {written} event(s) into {len(seen)} stream(s)"
    )


def import_batch(
    store: EventStore,
    conn: psycopg.Connection[Any],
    stream: str,
    first_version: int,
    batch: list[Line],
    name: str,
    dsn: str,
) -> int:
    """Append one batch of an import at its versions; return how many of its events were stored already.

    The part of the batch at versions the stream already has is appended as a retry of
    what is stored (the same ids at the same versions: nothing is written, anything else
    is a conflict), the rest after it.
    """
    current = store.stream_version(stream, conn=conn)
    stored = max(0, min(len(batch), current - first_version + 1))
    if stored:
        append_lines(store, conn, stream, first_version - 1, batch[:stored], name, dsn)
    if stored < len(batch):
        append_lines(store, conn, stream, first_version + stored - 1, batch[stored:], name, dsn)
    return stored


def import_batches(lines: JsonLines) -> Iterator[tuple[str, int, list[Line]]]:
    """The exported events of ``lines`` as batches of consecutive versions of one stream.

    Each event is its line as the file has it, but for :data:`EXPORT_ONLY_KEYS`.
    """
    stream_id, first_version = "", 0
    for batch in batches(lines):
        events: list[Line] = []
        for line in batch:
            item = line.value
            where = f"{lines.name} line {line.number}"
            if not isinstance(item, dict):
                raise Located(
                    where, InvalidArgument("an exported event is an object with stream_id, version and id")
                )
            stream, version = item.get("stream_id"), item.get("version")
            if not isinstance(stream, str) or type(version) is not int or item.get("id") is None:
                raise Located(
                    where,
                    InvalidArgument("an imported event needs a stream_id, an integer version and an id"),
                )
            if not 0 <= version <= BIGINT_MAX:
                raise Located(where, InvalidArgument(f"version {version} is not between 0 and {BIGINT_MAX}"))
            event = Line(line.number, {k: v for k, v in item.items() if k not in EXPORT_ONLY_KEYS}, line.size)
            if events and (stream, version) != (stream_id, first_version + len(events)):
                yield stream_id, first_version, events
                events = []
            if not events:
                stream_id, first_version = stream, version
            events.append(event)
        if events:
            yield stream_id, first_version, events


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
@click.option(
    "--force",
    is_flag=True,
    help=f"Run on a database that holds other data too (without it: exit {EXIT_NOT_DEMO_DATA}).",
)
@database_option
@click.pass_context
def demo(ctx: click.Context, dev_home: Path | None, force: bool) -> None:
    """Run the Order Processing example: commands, a rejected one, then every order rebuilt.

    Without a DSN (--dsn, PGEVENTSTORE_DSN or DATABASE_URL; libpq's variables alone do
    not count) it uses the embedded development cluster (see dev-server), starting it if
    needed and stopping it again afterwards; its data survives, so each run adds orders.
    It says which database it uses, and refuses one that holds anything but its own
    orders (exit 11) unless given --force.
    """
    dsn: str | None = ctx.obj.get("dsn")
    server = None if dsn else DevServer(dev_home)
    started = False
    try:
        if server is not None:
            dsn = server.url()
            if dsn is None:
                dsn, started = server.start().url, True
            where = f"database {DATABASE} of the embedded PostgreSQL cluster in {server.home}"
        else:
            dsn = require_dsn(ctx)
            where = ""
        with psycopg.connect(dsn, autocommit=True) as conn:
            info = conn.info
            where = where or f"database {info.dbname} on {info.host}:{info.port} as {info.user}"
            click.echo(f"demo on the {where}")
            found = foreign_data(conn)
        if found and not force:
            fail(
                f"the {where} holds more than the demo's orders ({', '.join(found)}): run the demo "
                "on an empty database, or pass --force to add its orders to this one",
                EXIT_NOT_DEMO_DATA,
            )
        schema.migrate(dsn)
        run_demo(dsn, click.echo)
    finally:
        if server is not None and started:
            server.stop()


@main.group("dev-server", invoke_without_command=True)
@DEV_HOME
@click.pass_context
def dev_server(ctx: click.Context, dev_home: Path | None) -> None:
    """Manage the embedded development cluster (the demo's database when no DSN is given).

    It is private to the user who created it: logins need the password it generated,
    kept in the passfile in its home (mode 600), which its URL names.
    """
    if ctx.invoked_subcommand is None:
        raise click.exceptions.NoArgsIsHelpError(ctx)
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
@json_option("One JSON object: home, initialized, url (null when stopped).")
@click.pass_context
def dev_server_status(ctx: click.Context, as_json: bool) -> None:
    """Print where the cluster lives, whether it exists, and whether it runs."""
    status = ctx.obj["dev_server"].status()
    if as_json:
        home, url = str(status.home), status.url
        click.echo(json.dumps({"home": home, "initialized": status.initialized, "url": url}))
        return
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


def _log_reconnections() -> None:
    """Print the package's warnings, and what ``pgeventstore.recovery`` tells, on stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pgeventstore: %(message)s"))
    package = logging.getLogger("pgeventstore")
    package.addHandler(handler)
    package.propagate = False
    logging.getLogger("pgeventstore.recovery").setLevel(logging.INFO)
    # The pool's own attempts while the server is away would repeat those lines.
    logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())


@main.command()
@click.option("--category", "-c", help="Only streams of this category (the id before the first '-').")
@click.option(
    "--from",
    "after",
    metavar="N",
    callback=whole_number_option(0),
    type=str,
    default=0,
    show_default=True,
    help="Start after this log number (a checkpoint; 0: the start of the log).",
)
@click.option("--type", "-t", "event_types", multiple=True, help="Only events of this type (repeatable).")
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep following new events until Ctrl-C (exit 130), or exit once caught up.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01, max=3600),
    default=0.5,
    show_default=True,
    help="Seconds between polls when no NOTIFY wakes it up.",
)
@json_option("One JSON object per event, all fields (as read --json).")
@replica_log_option
@database_option
@click.pass_context
def tail(
    ctx: click.Context,
    category: str | None,
    after: int,
    event_types: tuple[str, ...],
    follow: bool,
    poll_interval: float,
    as_json: bool,
    replica: str | None,
) -> None:
    """Print the global log, one event a line: log number, stream@version, type, data.

    The log in its one order (see the documentation, "The global log"): an event is
    printed once every transaction older than its own has ended. --from takes a log
    number; beyond the newest one, nothing is printed yet. With --replica the same events
    are printed, read from the standby once it has replayed what the database had.
    Following, it outlives a server restart or a failover: it says on stderr that it
    reconnects, then goes on after the last event it printed (a database it cannot reach
    at the start is exit 7).
    """
    if poll_interval != poll_interval:  # NaN passes every range check
        raise click.BadParameter("not a number", param_hint="'--poll-interval'")
    log_filter = LogFilter(category=category, event_types=list(event_types) or None)
    events: Iterator[RecordedEvent]
    if follow:
        # A database that cannot be reached at the start is exit 7 at once; once following,
        # a restart or a failover is waited out (pgeventstore.recovery), each retry one
        # line on stderr.
        open_store(ctx)
        _log_reconnections()
        if replica is not None:
            check_dsn(replica, "--replica")
        # Waiting for the server is what tail does while it is away: no slow-call warnings.
        store = EventStore(
            require_dsn(ctx),
            replicas=[replica] if replica is not None else (),
            dumps=exact_dumps,
            loads=exact_loads,
            slow_call=None,
        )
        ctx.call_on_close(store.close)
        events = subscription.follow(store, after, log_filter, poll_interval=poll_interval)
    elif replica is not None:
        store = replicated_store(ctx, replica)
        events = store.read_log(log_filter, after, replica=store.wal_position())
    else:
        events = open_store(ctx).read_all(after, event_types=log_filter.event_types, category=category)
    for event in events:
        if as_json:
            click.echo(event_json(event))
        else:
            click.echo(
                f"{event.log_number}\t{event.stream_id}@{event.version}\t{event.type}\t"
                f"{exact_dumps(event.data)}"
            )


@main.command()
@json_option("One JSON object per subscription and line.")
@database_option
@click.pass_context
def subscriptions(ctx: click.Context, as_json: bool) -> None:
    """List every subscription's checkpoint, how far it is behind, and what holds it back."""
    lags = open_store(ctx).subscription_lag()
    if as_json:
        for lag in lags:
            click.echo(value_json(lag))
        return
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
        for lag in lags
    )
    for line in table(["SUBSCRIPTION", "CHECKPOINT", "BEHIND", "HELD BACK", "HELD BACK BY"], rows):
        click.echo(line)


@main.command("forget-subject")
@click.argument("subject")
@json_option("One JSON object: subject, forgotten_at, events, snapshots_deleted.")
@database_option
@click.pass_context
def forget_subject(ctx: click.Context, subject: str, as_json: bool) -> None:
    """Forget data subject SUBJECT (eventstore_admin): destroy its key.

    Its personal fields read as {"$redacted": true} from then on, appends naming it exit 14,
    and its streams' snapshots are deleted. Forgetting again changes nothing.
    """
    result = open_store(ctx).forget_subject(subject)
    if as_json:
        click.echo(value_json(result))
        return
    click.echo(
        f"forgot {subject} at {timestamp(result.forgotten_at)}: {result.events} event(s) now read its "
        f"personal fields as redacted; {result.snapshots_deleted} snapshot(s) deleted"
    )


@main.command()
@click.argument("event_id", type=click.UUID)
@click.option("--reason", required=True, help="Why (recorded with who and when; never the data).")
@click.option("--data/--keep-data", default=True, show_default=True, help="Replace the event's data.")
@click.option("--metadata", is_flag=True, help="Replace the event's metadata too.")
@json_option("One JSON object: the recorded redaction.")
@database_option
@click.pass_context
def redact(
    ctx: click.Context, event_id: uuid.UUID, reason: str, data: bool, metadata: bool, as_json: bool
) -> None:
    """Replace event EVENT_ID's data and/or metadata with {"$redacted": true} (eventstore_admin).

    The event keeps its stream, version, id and log number; the redaction is recorded.
    """
    redaction = open_store(ctx).redact_event(event_id, reason, data=data, metadata=metadata)
    if as_json:
        click.echo(value_json(redaction))
        return
    replaced = " and ".join(
        name
        for name, done in (("data", redaction.redacted_data), ("metadata", redaction.redacted_metadata))
        if done
    )
    click.echo(
        f"redacted the {replaced} of event {event_id} at {timestamp(redaction.redacted_at)} "
        f"(redaction {redaction.redaction_id}, by {redaction.redacted_by})"
    )


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
@database_option
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

    import pgeventstore_bench as benchmark
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
