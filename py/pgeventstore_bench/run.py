"""One benchmark run: its scale, its scratch databases and connections, and the order of its groups."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgeventstore import schema
from pgeventstore_bench import growth, numbering, reads, writes
from pgeventstore_bench.measure import Progress, Result
from pgeventstore_bench.statements import FLOOR_SCHEMA_SQL, HAND_SCHEMA_SQL, Conn


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much work each workload does per round."""

    single_calls: int
    batch_calls: int
    clients_calls: int
    race_calls: int
    stream_length: int
    read_stream_calls: int
    #: Workload 7b: one read_stream call of a stream this long (2,000 events in the full run).
    short_stream_length: int
    short_stream_calls: int
    aggregate_sizes: tuple[int, int]
    aggregate_loads: int
    growth_fill: int
    numbering_backlog: int
    follow_seconds: float


FULL = Scale(
    single_calls=500,
    batch_calls=20,
    clients_calls=60,
    race_calls=60,
    stream_length=10_000,
    read_stream_calls=5,
    short_stream_length=2_000,
    short_stream_calls=40,
    aggregate_sizes=(100, 100_000),
    aggregate_loads=100,
    growth_fill=200_000,
    numbering_backlog=40_000,
    follow_seconds=3.0,
)
QUICK = Scale(
    single_calls=15,
    batch_calls=3,
    clients_calls=3,
    race_calls=4,
    stream_length=300,
    read_stream_calls=2,
    short_stream_length=200,
    short_stream_calls=2,
    aggregate_sizes=(100, 1_000),
    aggregate_loads=3,
    growth_fill=2_000,
    numbering_backlog=1_000,
    follow_seconds=0.3,
)


class Bench:
    """One benchmark run against the server behind ``admin_dsn``."""

    def __init__(
        self,
        admin_dsn: str,
        *,
        scale: Scale,
        rounds: int,
        growth: bool,
        durability: str,
        prefix: str,
        progress: Progress | None = None,
    ) -> None:
        self.admin_dsn = admin_dsn
        self.scale = scale
        self.rounds = rounds
        self.growth = growth
        self.durability = durability
        self.prefix = prefix
        self.progress: Progress = progress or (lambda label: None)
        self.run_id = uuid.uuid4().hex[:8]
        self.databases: list[str] = []
        self.conns: list[Conn] = []
        self.dsn = ""
        self.template = ""
        #: Whether the role may run CHECKPOINT (superuser or pg_checkpoint); see :meth:`settle`.
        self.settles = True

    @property
    def steps(self) -> int:
        """How many progress steps the run makes (one per round and side, plus setups)."""
        # Three sides per round: workloads 1-5 with 1b and 2b, the wrapper (two batch sizes),
        # 6, 7, 7b, 8 (two sizes) and 11; workload 9's two states; 10's append, number and
        # hand-made append. Setups: the template, two fills and the end.
        triples = 15
        return self.rounds * (3 * triples + 6 + 3) + 4

    def dsn_for(self, dbname: str) -> str:
        """The connection string of one scratch database, with the run's durability setting."""
        params = conninfo_to_dict(self.admin_dsn)
        params["dbname"] = dbname
        if self.durability == "fast":
            params["options"] = (str(params.get("options") or "") + " -c synchronous_commit=off").strip()
        return make_conninfo(**params)  # type: ignore[arg-type]

    def create_database(self, suffix: str, template: str | None = None) -> str:
        """Create a scratch database (dropped by :meth:`close`) and return its name."""
        name = f"{self.prefix}{self.run_id}_{suffix}"
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(query)
        self.databases.append(name)
        return name

    def settle(self) -> None:
        """Write out what the last step dirtied before the next workload measures anything.

        A scratch database copied from its template, or a fill of hundreds of thousands of
        events, leaves the server flushing for minutes (the checkpointer spreads its writes);
        whichever side measured then would pay for them. A role that may not run CHECKPOINT
        (neither superuser nor pg_checkpoint) measures without it, and the report says so.
        """
        if not self.settles:
            return
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            try:
                conn.execute("checkpoint")
            except psycopg.errors.InsufficientPrivilege:
                self.settles = False

    def connect(self, dsn: str | None = None) -> Conn:
        """A new autocommit connection (to the current group's database), closed at the end."""
        conn = psycopg.connect(dsn or self.dsn, autocommit=True)
        self.conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection and drop every scratch database."""
        for conn in self.conns:
            conn.close()
        self.conns.clear()
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            for name in reversed(self.databases):
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        self.databases.clear()

    @contextlib.contextmanager
    def group(self, suffix: str) -> Iterator[None]:
        """Run a group of workloads in a fresh copy of the template database."""
        name = self.create_database(suffix, template=self.template)
        self.dsn = self.dsn_for(name)
        self.settle()
        try:
            yield
        finally:
            for conn in self.conns:
                conn.close()
            self.conns.clear()

    @staticmethod
    def settings(conn: Conn) -> dict[str, Any]:
        """The server settings that decide the figures, as the benchmark's sessions see them."""
        names = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers")
        found: dict[str, Any] = {}
        for name in names:
            row = conn.execute(sql.SQL("show {}").format(sql.Identifier(name))).fetchone()
            found[name] = row[0] if row else None
        return found

    def run(self) -> dict[str, Any]:
        """Run every workload; return the report as a JSON-ready dict."""
        try:
            self.template = self.create_database("template")
            template_dsn = self.dsn_for(self.template)
            schema.migrate(template_dsn)
            with psycopg.connect(template_dsn, autocommit=True) as conn:
                conn.execute(FLOOR_SCHEMA_SQL)
                conn.execute(HAND_SCHEMA_SQL)
                settings = self.settings(conn)
            self.progress("setup")
            results: list[Result] = []
            with self.group("writes"):
                results += writes.workloads(self)
            with self.group("reads"):
                results += reads.workloads(self)
            with self.group("growth"):
                results += growth.workloads(self)
            with self.group("log"):
                fastest = next(r for r in results if r.key == "3").store
                results += [numbering.numbering_workload(self, fastest), numbering.follow_workload(self)]
            self.progress("done")
            return {
                "durability": self.durability,
                "settings": settings,
                "checkpoints_between_steps": self.settles,
                "rounds": self.rounds,
                "scale": dataclasses.asdict(self.scale),
                "results": [r.as_dict() for r in results],
            }
        finally:
            self.close()
