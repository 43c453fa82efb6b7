r"""Measure what any design of the store could reach against the benchmark's hand-made table.

Usage: .venv/bin/python scripts/measure_design_floor.py (--durable | --fast) [--seconds 5]
       [--turns 6] [--parts appends,reads] [--clients 1,8] [--many w2]

Starts a throwaway cluster (the server's durable defaults with --durable; fsync,
synchronous_commit and full_page_writes off with --fast), installs the store, the
benchmark's hand-made table (``bench_hand.events``: key, ``unique (stream_id, version)``,
unique event id) and, in a scratch schema ``design_floor``, the alternative designs below.
Every figure comes from pgbench (``-M prepared -n -r``), so that the client's own cost is
small and the same for every variant.

Appends (w1: one event per call to a new stream, expected version -1; w2: one event per
call to the client's own stream with the exact expected version, the version tracked
from each call's result with ``\gset``), with 1 client and with 8 (``-j 2``):

* ``hand``: the hand-made table's INSERT (``statements.HAND_INSERT_SQL``);
* ``blind store insert``: the hand-made table's INSERT into the store's table (its key,
  its transaction id column): no arbiter and, for w2, no read of event n, so not an append
  with an expected version; it tells the table's cost from the statement's;
* ``bare sql``: the store's own INSERT as ``eventstore.append_event`` writes it (the
  version as the ``ON CONFLICT`` arbiter; for w2 selected from the stream's event n), as
  a prepared statement, no function;
* ``bare invoker``: that INSERT alone in a PL/pgSQL function, SECURITY INVOKER, no SET;
* ``bare definer``: the same function SECURITY DEFINER, no SET clause (every name qualified);
* ``bare definer+set``: the same with ``set search_path = pg_catalog, pg_temp``;
* ``append_event``: ``eventstore.append_event`` itself;
* ``view+trigger``: the writer INSERTs into a view (writers would get INSERT on the view,
  no privilege on the table) over a table shaped like the store's, whose BEFORE INSERT
  trigger (SECURITY DEFINER: it reads the table) checks the rules and, for a version
  above 0, that event n exists, and records the larger transaction id;
* ``view+check`` (w1 only): the same view over a table whose CHECK constraints hold the
  rules and whose ``unique (stream_id, version)`` is the only concurrency check, which is
  all that expected version -1 needs.

Reads, over a store of 100,000 events (--events) copied into the hand-made table: a page of
1,000 events at a random place of the log, and the whole of a 2,000-event stream:

* ``hand``: the keyset SELECT of the hand-made table (``statements.HAND_READ_ALL_SQL``,
  ``statements.read_stream_sql``);
* ``plpgsql definer``: that SELECT in a SECURITY DEFINER PL/pgSQL function (``return query``);
* ``sql definer``: that SELECT as a SECURITY DEFINER SQL-language function;
* ``hand view``: that SELECT on a view of the hand-made table (readers would get SELECT on
  the view only);
* ``store view``: the store's rows through a view that hides what the stream lifecycle
  retired, as read_all's log join does (pages: the log joined to the events, by log
  number; streams: the events by version);
* ``numbered copy view`` (pages): a design whose log holds a copy of each event, made when
  it is numbered, read through a view like the one above by a keyset range of the log
  number (the copy's cost at numbering is not measured here);
* ``number_log``: what a reader of a view must call first, as read_all does (added to the
  views' latencies in the ``+number_log`` rows);
* ``read_all`` / ``read_stream``: the store's functions.

One client: PAIRED measurement. One pgbench script runs every variant's statement once per
pass, each its own transaction, so that each variant sees the same moments of the machine
(its flush time varies by 2x over seconds); ``-r`` gives each statement's mean latency, and
a variant's ratio is the hand statement's latency over its own (its rate over the hand
rate). The order of the statements is reversed every other turn, and a client's first
pass (planning, compiling, the store's once-per-session log frame check) is not counted.
Several clients (--many: w2 by default, the shape of the benchmark's workload 4): hand,
blind store insert, bare sql, bare definer, append_event and view+trigger each run alone for -T seconds, one
after the other, order reversed every other turn; the ratio is its transactions per
second (seconds 2 to T - 1 of pgbench's progress reports) over the hand statement's of the
same turn.

Prints, per workload, each variant's ratio over the turns (min, median, max) and its mean
latency; docs/performance.md (round 9) explains what the figures show.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgeventstore import schema
from pgeventstore.calls import EVENT_COLUMNS, READ_ALL_SQL, READ_STREAM_SQL
from pgeventstore.cluster import FAST_SETTINGS, Cluster, find_bindir, temporary_cluster
from pgeventstore_bench.statements import (
    COPY_TO_HAND_SQL,
    EVENT_TYPE,
    HAND,
    HAND_INSERT_SQL,
    HAND_READ_ALL_SQL,
    HAND_SCHEMA_SQL,
    PAYLOAD_JSON,
    batch_json,
    read_stream_sql,
)

#: The stream read whole.
STREAM_ID = "r2000"
STREAM_LENGTH = 2000
#: A read_all page.
PAGE = 1000

# The store's two inserts as eventstore.append_event writes them, every name qualified, with
# the arguments as {stream}, {expected}, {type} and {data}.
NEW_STREAM_INSERT = """insert into eventstore.events
        (stream_id, version, event_id, event_type, data, metadata, transaction_id)
    values ({stream}, 0, pg_catalog.gen_random_uuid(), {type}, {data}, null, pg_catalog.pg_current_xact_id())
    on conflict on constraint events_stream_version_key do nothing
    returning 0, global_position, global_position"""
EXACT_INSERT = """insert into eventstore.events
        (global_position, stream_id, version, event_id, event_type, data, metadata,
         transaction_id, recorded_at)
    overriding system value
    select pg_catalog.nextval('eventstore.events_global_position_seq'::pg_catalog.regclass), {stream},
           e.version operator(pg_catalog.+) 1, pg_catalog.gen_random_uuid(), {type}, {data}, null,
           greatest(pg_catalog.pg_current_xact_id(), e.transaction_id), pg_catalog.now()
      from eventstore.events e
     where e.stream_id operator(pg_catalog.=) {stream}
       and e.version operator(pg_catalog.=) {expected}
       and e.global_position operator(pg_catalog.>) 0
    on conflict on constraint events_stream_version_key do nothing
    returning version, global_position, global_position"""
BARE_FUNCTION = """
create function design_floor.{name}(stream_id text, expected_version bigint, type text, data jsonb)
returns eventstore.append_result
language plpgsql
volatile
{security}
as $$
declare
    v_result eventstore.append_result;
begin
    {insert}
        into v_result;
    if not found then
        raise exception using errcode = 'ES409', message = 'nothing inserted';
    end if;
    return v_result;
end;
$$;
"""
FUNCTION_ARGS = {
    "stream": "{name}.stream_id",
    "expected": "{name}.expected_version",
    "type": "{name}.type",
    "data": "{name}.data",
}
SECURITY = {
    "invoker": "security invoker",
    "definer": "security definer",
    "definer_set": "security definer set search_path = pg_catalog, pg_temp",
}

# A table shaped like eventstore.events (its columns, defaults and three indexes), written
# through a view; CHECK_RULES or TRIGGER_RULES hold the rules of one of the two.
VIEW_DESIGN = """
create table design_floor.events_{name} (like eventstore.events including all);
alter table design_floor.events_{name} alter column event_id set default pg_catalog.gen_random_uuid();
create view design_floor.append_{name} as
    select stream_id, version, event_type, data, metadata, global_position from design_floor.events_{name};
"""
CHECK_RULES = """
alter table design_floor.events_check add constraint events_check_stream_id
    check (eventstore.stream_id_is_valid(stream_id));
alter table design_floor.events_check add constraint events_check_plain
    check (eventstore.is_plain_event(event_type, data, metadata)
           and not coalesce(metadata operator(pg_catalog.?|) '{$subject,$personal}'::pg_catalog.text[],
                            false));
"""
TRIGGER_RULES = """
create function design_floor.check_append() returns trigger
language plpgsql
security definer
as $$
declare
    v_previous pg_catalog.xid8;
begin
    if (eventstore.stream_id_is_valid(new.stream_id)
        and eventstore.is_plain_event(new.event_type, new.data, new.metadata)) is not true then
        raise exception using errcode = 'ES400', message = 'not a plain event';
    end if;
    if new.version operator(pg_catalog.>) 0 then
        select e.transaction_id into v_previous
          from design_floor.events_trigger e
         where e.stream_id operator(pg_catalog.=) new.stream_id
           and e.version operator(pg_catalog.=) (new.version operator(pg_catalog.-) 1);
        if not found then
            raise exception using errcode = 'ES409', message = 'no event n';
        end if;
        new.transaction_id := greatest(new.transaction_id, v_previous);
    end if;
    return new;
end;
$$;
create trigger events_trigger_check before insert on design_floor.events_trigger
    for each row execute function design_floor.check_append();
"""

# Reads: the hand-made table's statements in functions and a view, and the store's rows
# through views that hide what the stream lifecycle retired, with read_all's test: once per
# statement whether any stream has rules, and only then per event.
HAND_COLUMNS = """stream_id text, version bigint, global_position bigint, event_id uuid, event_type text,
    data jsonb, metadata jsonb, recorded_at timestamptz"""
RETIRED = """(not exists (
        select from eventstore.stream_metadata r
         where r.tombstoned or r.version_floor operator(pg_catalog.>) 0
            or r.max_count is not null or r.max_age is not null)
     or not exists (
        select from eventstore.stream_metadata m
         where m.stream_id operator(pg_catalog.=) e.stream_id
           and eventstore.event_is_retired(
                 m.tombstoned, m.version_floor, m.max_age, m.max_count, e.version, e.recorded_at,
                 (select n.version from eventstore.events n
                   where n.stream_id operator(pg_catalog.=) e.stream_id order by n.version desc limit 1))))"""


def hand_page(function: str) -> str:
    """The hand-made keyset SELECT of a page, on the arguments of ``function`` (after, max_count)."""
    return (
        "select e.stream_id::text, e.version, e.global_position, e.event_id, e.event_type, e.data, "
        "e.metadata, e.recorded_at, e.global_position from bench_hand.events e "
        f"where e.global_position > {function}.after order by e.global_position limit {function}.max_count"
    )


def hand_stream(function: str) -> str:
    """The hand-made select of a stream on the arguments (stream, from_version, max_count) of ``function``."""
    return (
        "select e.stream_id::text, e.version, e.global_position, e.event_id, e.event_type, e.data, "
        "e.metadata, e.recorded_at from bench_hand.events e "
        f"where e.stream_id = {function}.stream and e.version >= {function}.from_version "
        f"order by e.version limit {function}.max_count"
    )


READ_DESIGNS = f"""
create function design_floor.page_plpgsql(after bigint, max_count integer)
returns table ({HAND_COLUMNS}, cursor bigint)
language plpgsql stable security definer set search_path = pg_catalog, pg_temp
as $$
begin
    return query {hand_page("page_plpgsql")};
end;
$$;
create function design_floor.page_sql(after bigint, max_count integer)
returns table ({HAND_COLUMNS}, cursor bigint)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
    {hand_page("page_sql")};
$$;
create function design_floor.stream_plpgsql(stream text, from_version bigint, max_count integer)
returns table ({HAND_COLUMNS})
language plpgsql stable security definer set search_path = pg_catalog, pg_temp
as $$
begin
    return query {hand_stream("stream_plpgsql")};
end;
$$;
create function design_floor.stream_sql(stream text, from_version bigint, max_count integer)
returns table ({HAND_COLUMNS})
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
    {hand_stream("stream_sql")};
$$;
create view design_floor.hand_events as select * from bench_hand.events;
create view design_floor.stream_events as
    select e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
           eventstore.readable_data(e.data, e.metadata) as data, e.metadata, e.recorded_at
      from eventstore.events e
     where {RETIRED};
-- LIMIT 1 keeps the lateral subquery a per-number index lookup: as a join, the planner
-- takes the pair's two columns for independent and hashes the whole range.
create view design_floor.log_events as
    select l.log_number, e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
           eventstore.readable_data(e.data, e.metadata) as data, e.metadata, e.recorded_at
      from eventstore.log l
      cross join lateral (
            select e.* from eventstore.events e
             where e.transaction_id operator(pg_catalog.=) l.transaction_id
               and e.global_position operator(pg_catalog.=) l.global_position
             limit 1) e
     where {RETIRED};
"""
# A design whose log holds the events themselves: numbering would copy each event into it,
# and a page is a keyset range of the log number. Filled here once from the numbered store.
NUMBERED_COPY = f"""
create table design_floor.numbered_events as
    select l.log_number, e.stream_id, e.version, e.global_position, e.event_id, e.event_type, e.data,
           e.metadata, e.recorded_at
      from eventstore.log l
      join eventstore.events e using (transaction_id, global_position);
alter table design_floor.numbered_events add primary key (log_number);
create view design_floor.numbered_log as
    select e.log_number, e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
           eventstore.readable_data(e.data, e.metadata) as data, e.metadata, e.recorded_at
      from design_floor.numbered_events e
     where {RETIRED};
"""


def pgbench_sql(query: str, *args: str) -> str:
    """A psycopg statement with its ``%s`` placeholders replaced, in order, by pgbench ``args``."""
    parts = query.split("%s")
    if len(parts) != len(args) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders, {len(args)} arguments: {query}")
    text = parts[0] + "".join(arg + part for arg, part in zip(args, parts[1:], strict=True))
    return " ".join(text.split())


@dataclass(frozen=True)
class Variant:
    """One design's statement in a pgbench script: its ``meta`` lines first, then ``sql``."""

    name: str
    sql: str
    meta: tuple[str, ...] = ()


@dataclass
class Figures:
    """What the turns of one workload measured, per variant: latencies (ms) and ratios."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)

    def add(self, latencies: dict[str, float], hand: str = "hand") -> None:
        """One turn: each variant's mean latency; its ratio is the hand statement's over its own."""
        for name, latency in latencies.items():
            self.latencies.setdefault(name, []).append(latency)
            self.ratios.setdefault(name, []).append(latencies[hand] / latency)


def design_schema() -> str:
    """The scratch schema: the bare functions, the view designs and the read designs."""
    parts = ["create schema design_floor;"]
    for shape, insert in (("new", NEW_STREAM_INSERT), ("exact", EXACT_INSERT)):
        for suffix, security in SECURITY.items():
            name = f"{shape}_{suffix}"
            args = {key: value.format(name=name) for key, value in FUNCTION_ARGS.items()}
            parts.append(BARE_FUNCTION.format(name=name, security=security, insert=insert.format(**args)))
    for name in ("check", "trigger"):
        parts.append(VIEW_DESIGN.format(name=name))
    parts += [CHECK_RULES, TRIGGER_RULES, READ_DESIGNS]
    return "\n".join(parts)


def append_variants(exact: bool) -> list[Variant]:
    r"""The append statements of w1 (``exact`` false) or w2, each on a stream of its own.

    w1 draws a new random stream id per call; w2's stream is the client's own for this run
    (``:run``), created at version 0 by :func:`start_streams`, and each statement sets the
    variable of its stream's version from its result (``\gset``).
    """
    variants: list[Variant] = []
    for code, name in enumerate(VARIANT_NAMES[: len(VARIANT_NAMES) - (1 if exact else 0)]):
        s, v, n = f":s{code}", f":v{code}", f":n{code}"
        meta = (
            (f"\\set s{code} {stream_number(code)}", f"\\set n{code} {v} + 1")
            if exact
            else (f"\\set s{code} random(1000000000000000000, 9000000000000000000)",)
        )
        stream, typ, data = f"{s}::text", ":t::text", ":data::jsonb"
        expected = f"{v}::bigint" if exact else ":m1::bigint"
        gset = " \\gset" if exact else ""
        if name == "hand":
            sql = pgbench_sql(HAND_INSERT_SQL, s, n if exact else "0", ":t", ":data")
            sql = sql.replace("returning global_position", f"returning version as v{code}")
        elif name == "blind store insert":
            sql = (
                "insert into eventstore.events (stream_id, version, event_id, event_type, data) "
                f"values ({stream}, {f'{n}::bigint' if exact else '0'}, gen_random_uuid(), {typ}, {data}) "
                f"returning version as v{code}"
            )
        elif name == "bare sql":
            insert = EXACT_INSERT if exact else NEW_STREAM_INSERT
            sql = " ".join(insert.format(stream=stream, expected=expected, type=typ, data=data).split())
            sql = sql.replace("returning version,", f"returning version as v{code},")
        elif name in ("view+trigger", "view+check"):
            view = "trigger" if name == "view+trigger" else "check"
            sql = (
                f"insert into design_floor.append_{view} (stream_id, version, event_type, data) "
                f"values ({stream}, {f'{n}::bigint' if exact else '0'}, {typ}, {data}) "
                f"returning version as v{code}"
            )
        else:
            function = {
                "bare invoker": f"design_floor.{'exact' if exact else 'new'}_invoker",
                "bare definer": f"design_floor.{'exact' if exact else 'new'}_definer",
                "bare definer+set": f"design_floor.{'exact' if exact else 'new'}_definer_set",
                "append_event": "eventstore.append_event",
            }[name]
            sql = (
                f"select stream_version as v{code}, first_position, last_position "
                f"from {function}({stream}, {expected}, {typ}, {data})"
            )
        variants.append(Variant(name, sql + gset, meta))
    return variants


#: The variants several clients run: the hand-made table, the store's table written as the
#: hand-made one is, the store's insert without a function, the least a function keeping
#: the privilege model can be, the store, the view.
ALONE = ("hand", "blind store insert", "bare sql", "bare definer", "append_event", "view+trigger")
VARIANT_NAMES = (
    "hand",
    "blind store insert",
    "bare sql",
    "bare invoker",
    "bare definer",
    "bare definer+set",
    "append_event",
    "view+trigger",
    "view+check",
)


def stream_number(code: int) -> str:
    """The pgbench expression of a w2 stream id: one per run, variant and client."""
    return f":run * 100000 + {code} * 1000 + :client_id"


def start_streams(conn: psycopg.Connection[Any], run: int, clients: int) -> None:
    """Give every w2 stream of ``run`` its first event, version 0, where its variant writes."""
    for code, name in enumerate(VARIANT_NAMES):
        for client in range(clients):
            stream = str(run * 100000 + code * 1000 + client)
            if name == "hand":
                conn.execute(HAND_INSERT_SQL.replace("%s::bigint", "0"), (stream, EVENT_TYPE, PAYLOAD_JSON))
            elif name == "view+trigger":
                conn.execute(
                    "insert into design_floor.append_trigger (stream_id, version, event_type, data) "
                    "values (%s, 0, %s, %s::jsonb)",
                    (stream, EVENT_TYPE, PAYLOAD_JSON),
                )
            elif name != "view+check":
                conn.execute(
                    "select eventstore.append_event(%s::text, -1, %s::text, %s::jsonb)",
                    (stream, EVENT_TYPE, PAYLOAD_JSON),
                )


def page_prelude(events: int) -> tuple[str]:
    """Each pass reads the page at a random place of the log, the same rows for every variant."""
    return (f"\\set a random(0, {events // PAGE - 2}) * {PAGE}",)


def page_variants() -> list[Variant]:
    """A page of the log after the cursor ``:a``."""
    cols = f"{EVENT_COLUMNS}, cursor"
    return [
        Variant("hand", pgbench_sql(HAND_READ_ALL_SQL, ":a", ":lim")),
        Variant(
            "plpgsql definer", f"select {cols} from design_floor.page_plpgsql(:a::bigint, :lim::integer)"
        ),
        Variant("sql definer", f"select {cols} from design_floor.page_sql(:a::bigint, :lim::integer)"),
        Variant(
            "hand view",
            f"select {EVENT_COLUMNS}, global_position as cursor from design_floor.hand_events "
            "where global_position > :a::bigint order by global_position limit :lim::integer",
        ),
        Variant(
            "store view",
            f"select {EVENT_COLUMNS}, log_number from design_floor.log_events "
            "where log_number > :a::bigint order by log_number limit :lim::integer",
        ),
        Variant(
            "numbered copy view",
            f"select {EVENT_COLUMNS}, log_number from design_floor.numbered_log "
            "where log_number > :a::bigint order by log_number limit :lim::integer",
        ),
        Variant("number_log", "select eventstore.number_log()"),
        Variant(
            "read_all",
            pgbench_sql(READ_ALL_SQL, ":a", ":lim", "null", "null", "null"),
        ),
    ]


def stream_variants() -> list[Variant]:
    """The whole of the 2,000-event stream, read in one statement."""
    cols = EVENT_COLUMNS
    return [
        Variant("hand", pgbench_sql(read_stream_sql(HAND), ":rs", "0", ":len")),
        Variant(
            "plpgsql definer", f"select {cols} from design_floor.stream_plpgsql(:rs::text, 0, :len::integer)"
        ),
        Variant("sql definer", f"select {cols} from design_floor.stream_sql(:rs::text, 0, :len::integer)"),
        Variant(
            "hand view",
            f"select {cols} from design_floor.hand_events "
            "where stream_id = :rs::text and version >= 0 order by version limit :len::integer",
        ),
        Variant(
            "store view",
            f"select {cols} from design_floor.stream_events "
            "where stream_id = :rs::text and version >= 0 order by version limit :len::integer",
        ),
        Variant("read_stream", pgbench_sql(READ_STREAM_SQL, ":rs", "0", ":len", "false")),
    ]


def script(variants: Sequence[Variant], reverse: bool, prelude: Sequence[str] = ()) -> str:
    """A pgbench script: ``prelude``, then every statement, in order or reversed.

    A client's first pass runs every statement in a block of its own, whose latencies are
    not the measured ones: a session's first call plans, compiles PL/pgSQL, and for the
    store checks the log frame once (a scan of the events).
    """
    ordered = list(reversed(variants)) if reverse else list(variants)
    one_pass = list(prelude)
    for variant in ordered:
        # A SQL command ends at its semicolon, or at the \gset that takes its result.
        one_pass += [*variant.meta, variant.sql if variant.sql.endswith("\\gset") else variant.sql + ";"]
    lines = ["\\if :warm = 0", *one_pass, "\\set warm 1", "\\endif", *one_pass]
    return "\n".join(lines) + "\n"


LATENCY_LINE = re.compile(r"^\s+(\d+\.\d+)\s+\d+\s+(.*)$")


class Pgbench:
    """Runs pgbench scripts against one cluster, from a scratch folder of script files."""

    def __init__(self, cluster: Cluster, folder: Path, seconds: int) -> None:
        self.cluster = cluster
        self.folder = folder
        self.seconds = seconds
        self.binary = str(find_bindir() / "pgbench")

    def run(self, text: str, clients: int, variables: dict[str, str]) -> tuple[float, list[float]]:
        """Run ``text`` for the configured seconds; its rate and each SQL statement's mean latency (ms).

        The rate is the mean transactions per second of the run's seconds after the first
        (pgbench's progress reports): the first holds the sessions' first calls.
        """
        path = self.folder / "script.sql"
        path.write_text(text, encoding="utf-8")
        command = [
            self.binary,
            "-n",
            "-M",
            "prepared",
            "-r",
            "-P",
            "1",
            "-T",
            str(self.seconds),
            "-f",
            str(path),
        ]
        command += ["-c", str(clients), "-j", str(min(clients, 2))]
        for name, value in variables.items():
            command += ["-D", f"{name}={value}"]
        command.append(self.cluster.dsn())
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
        if result.returncode != 0 or (failed is not None and int(failed.group(1)) > 0):
            raise RuntimeError(f"pgbench failed:\n{result.stdout}\n{result.stderr}\n{text}")
        rates = [
            float(rate) for rate in re.findall(r"^progress: [\d.]+ s, ([\d.]+) tps", result.stderr, re.M)
        ]
        if len(rates) < 2:
            raise RuntimeError(
                f"pgbench reported {len(rates)} seconds of progress: run longer\n{result.stderr}"
            )
        latencies = []
        for line in result.stdout.split("statement latencies", 1)[1].splitlines()[1:]:
            match = LATENCY_LINE.match(line)
            if match and not match.group(2).startswith("\\"):
                latencies.append(float(match.group(1)))
        return statistics.mean(rates[1:]), latencies


def paired(
    bench: Pgbench,
    variants: Sequence[Variant],
    clients: int,
    turn: int,
    variables: dict[str, str],
    prelude: Sequence[str] = (),
) -> dict[str, float]:
    """One turn of the paired script: each variant's mean latency (ms) after the first pass."""
    reverse = turn % 2 == 1
    _, latencies = bench.run(script(variants, reverse, prelude), clients, variables)
    ordered = list(reversed(variants)) if reverse else list(variants)
    if len(latencies) != 2 * len(ordered):
        raise RuntimeError(f"expected 2 x {len(ordered)} statement latencies, got {latencies}")
    measured = latencies[len(ordered) :]
    return {variant.name: latency for variant, latency in zip(ordered, measured, strict=True)}


def fill(conn: psycopg.Connection[Any], events: int) -> None:
    """The store's events for the reads, numbered, copied into the hand-made table, settled."""
    batch = batch_json(1000)
    streams = events // 1000
    for i in range(streams):
        stream = STREAM_ID if i < STREAM_LENGTH // 1000 else f"fill-{i}"
        version = (i * 1000 - 1) if stream == STREAM_ID and i > 0 else -1
        conn.execute("select eventstore.append_to_stream(%s, %s, %s::jsonb)", (stream, version, batch))
    numbered = 1
    while numbered:
        row = conn.execute("select eventstore.number_log(100000)").fetchone()
        numbered = row[0] if row else 0
    row = conn.execute("select count(*) from eventstore.log where log_number <> global_position").fetchone()
    if row is None or row[0] != 0:
        raise RuntimeError("log numbers differ from positions: the pages would not read the same rows")
    conn.execute(COPY_TO_HAND_SQL)
    conn.execute(
        "select setval(pg_get_serial_sequence('bench_hand.events', 'global_position'), "
        "(select max(global_position) from bench_hand.events))"
    )
    conn.execute(NUMBERED_COPY)
    conn.execute("vacuum analyze")
    conn.execute("checkpoint")


def summary(title: str, figures: Figures, unit: str = "ms") -> None:
    """Print one workload's table: ratio min / median / max over the turns, median latency."""
    print(f"\n{title}")
    print(f"{'variant':22s} {'ratio min':>9s} {'median':>7s} {'max':>6s} {unit + ' (median)':>14s}")
    for name, ratios in figures.ratios.items():
        latency = statistics.median(figures.latencies[name])
        ratio = f"{min(ratios):9.3f} {statistics.median(ratios):7.3f} {max(ratios):6.3f}"
        print(f"{name:22s} {ratio} {latency:14.3f}")


def main() -> None:
    """Parse the arguments, start the cluster, run the chosen parts and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--durable", action="store_true", help="the server's durable defaults")
    mode.add_argument("--fast", action="store_true", help="fsync, synchronous_commit, full_page_writes off")
    parser.add_argument("--seconds", type=int, default=5, help="pgbench -T of each turn (at least 3)")
    parser.add_argument("--turns", type=int, default=6, help="turns per workload")
    parser.add_argument("--events", type=int, default=100_000, help="events in the store the reads read")
    parser.add_argument("--parts", default="appends,reads", help="appends, reads or both")
    parser.add_argument("--clients", default="1,8", help="client counts of the appends")
    parser.add_argument("--many", default="w2", help="workloads run with several clients: w1, w2 or both")
    args = parser.parse_args()
    if args.seconds < 3:
        parser.error("--seconds must be at least 3: a rate leaves out the first second")
    if args.events < STREAM_LENGTH + 2 * PAGE:
        parser.error(f"--events must be at least {STREAM_LENGTH + 2 * PAGE}: the stream and two pages")
    parts = set(args.parts.split(","))
    clients_counts = [int(c) for c in args.clients.split(",")]
    variables = {"t": EVENT_TYPE, "data": PAYLOAD_JSON, "m1": "-1", "warm": "0"}
    variables.update({"lim": str(PAGE), "len": str(STREAM_LENGTH), "rs": STREAM_ID})
    # Each w2 stream starts at version 0 (start_streams).
    variables.update({f"v{code}": "0" for code in range(len(VARIANT_NAMES))})
    with (
        temporary_cluster(settings={} if args.durable else FAST_SETTINGS) as cluster,
        tempfile.TemporaryDirectory(prefix="design-floor-") as folder,
    ):
        dsn = cluster.dsn()
        schema.migrate(dsn)
        bench = Pgbench(cluster, Path(folder), args.seconds)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(HAND_SCHEMA_SQL)
            conn.execute(design_schema())
            settings = conn.execute(
                "select string_agg(name || '=' || setting, ' ' order by name) from pg_settings "
                "where name in ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method')"
            ).fetchone()
            print(
                "durable" if args.durable else "fsync off (CPU-bound)",
                settings[0] if settings else "",
                f"\npgbench -T {args.seconds}, {args.turns} turns; ratio = hand latency / variant latency",
            )
            if "reads" in parts:
                fill(conn, args.events)
                for title, variants, prelude in (
                    (f"read_all page of {PAGE} events", page_variants(), page_prelude(args.events)),
                    (f"read_stream of {STREAM_LENGTH} events", stream_variants(), ()),
                ):
                    figures = Figures()
                    for turn in range(args.turns):
                        latencies = paired(bench, variants, 1, turn, variables, prelude)
                        if "number_log" in latencies:
                            # A reader of the view numbers the log first, as read_all does.
                            for view in ("store view", "numbered copy view"):
                                latencies[f"{view}+number_log"] = latencies[view] + latencies["number_log"]
                        figures.add(latencies)
                    summary(title, figures)
            if "appends" in parts:
                run = 1
                for clients in clients_counts:
                    for exact in (False, True):
                        if clients > 1 and ("w2" if exact else "w1") not in args.many.split(","):
                            continue
                        workload = "w2 exact version" if exact else "w1 new streams"
                        figures = Figures()
                        for turn in range(args.turns):
                            run += 1
                            figures.add(appends(conn, bench, exact, clients, turn, run, variables))
                        how = "paired" if clients == 1 else "each variant alone, ratio = its tps / hand tps"
                        summary(
                            f"{workload}, {clients} client(s), {how}",
                            figures,
                            "ms" if clients == 1 else "ms/tx",
                        )


def appends(
    conn: psycopg.Connection[Any],
    bench: Pgbench,
    exact: bool,
    clients: int,
    turn: int,
    run: int,
    variables: dict[str, str],
) -> dict[str, float]:
    """One turn of an append workload: each variant's mean latency, or milliseconds per transaction.

    One client runs the paired script. Several clients run each variant alone, one after
    the other: with more backends than cores, a statement's latency in a mixed script is
    mostly its wait for a core, the same for every variant, which hides their differences;
    the rate of a run of one variant does not.
    """
    variants = append_variants(exact)
    if exact:
        start_streams(conn, run, clients)
    conn.execute("checkpoint")
    turn_variables = {**variables, "run": str(run)}
    if clients == 1:
        return paired(bench, variants, clients, turn, turn_variables)
    per_transaction: dict[str, float] = {}
    alone = [variant for variant in variants if variant.name in ALONE]
    for variant in alone if turn % 2 == 0 else list(reversed(alone)):
        tps, _ = bench.run(script([variant], False), clients, turn_variables)
        per_transaction[variant.name] = 1000.0 / tps
    return per_transaction


if __name__ == "__main__":
    main()
