"""The ``pgeventstore`` command line.

Exit codes: 0 success, 1 unexpected failure, 2 usage error (bad option or argument),
3 wrong expected version, 4 stream not found, 5 duplicate event id, 6 invalid argument
rejected by the database, 7 cannot connect to the database.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import psycopg

from pgeventstore import __version__, schema
from pgeventstore.cluster import ClusterError
from pgeventstore.devserver import DevServer
from pgeventstore.examples.demo import run_demo

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
                dsn, started = server.start(), True
            click.echo(f"embedded PostgreSQL cluster in {server.home}")
        assert dsn is not None
        schema.migrate(dsn)
        run_demo(dsn, click.echo)
    except ClusterError as error:
        fail(str(error), 1)
    except psycopg.OperationalError as error:
        fail(f"cannot connect: {error}".strip(), 7)
    finally:
        if server is not None and started:
            server.stop()


@main.group("dev-server")
@DEV_HOME
@click.pass_context
def dev_server(ctx: click.Context, dev_home: Path | None) -> None:
    """Manage the embedded development cluster (the demo's database when no DSN is given)."""
    ctx.obj["dev_server"] = DevServer(dev_home)


@dev_server.command("start")
@click.pass_context
def dev_server_start(ctx: click.Context) -> None:
    """Create the cluster if needed and start it; print its URL."""
    try:
        click.echo(ctx.obj["dev_server"].start())
    except ClusterError as error:
        fail(str(error), 1)


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
    """Print the cluster's URL (for PGEVENTSTORE_DSN); exit 1 when it is not running."""
    url = ctx.obj["dev_server"].url()
    if url is None:
        fail("the development cluster is not running: pgeventstore dev-server start", 1)
    click.echo(url)
