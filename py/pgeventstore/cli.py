"""The ``pgeventstore`` command line.

Exit codes: 0 success, 1 unexpected failure, 2 usage error (bad option or argument),
3 wrong expected version, 4 stream not found, 5 duplicate event id, 6 invalid argument
rejected by the database, 7 cannot connect to the database.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
import psycopg

from pgeventstore import __version__, schema
from pgeventstore.cluster import temporary_cluster

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
    from pgeventstore.cluster import FAST_SETTINGS

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
