"""Install and upgrade the ``eventstore`` schema.

Two install paths share one source: the yoyo migrations in ``migrations/`` (tables,
types, indexes) and the function files in ``sql/`` (applied after them, in the order of
``sql/install-order.txt``). :func:`migrate` applies both in one transaction;
:func:`install_script` prints both as one SQL script for a DBA, and :func:`upgrade_script`
as a psql script that also upgrades an installed store. All record what they installed in
one place, the schema's own ledger ``eventstore.schema_migrations``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from yoyo import read_migrations

from pgeventstore import __version__
from pgeventstore.errors import translate

#: Advisory lock key (any bigint no other component uses) that serializes concurrent
#: installs, whose function files would otherwise fail with "tuple concurrently updated".
_INSTALL_LOCK_KEY = 0x7067_6573_0001

#: The bookkeeping tables of yoyo 8.2 and later. Earlier releases of pgeventstore let yoyo
#: keep them in the migrating connection's current schema (usually ``public``), beside the
#: application's tables; :func:`migrate` removes the store's records from them.
YOYO_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")


@dataclasses.dataclass(frozen=True)
class MigrationStatus:
    """One migration and whether the database has it."""

    migration_id: str
    applied: bool


def _resource_dir(name: str) -> Path:
    """Find ``sql/`` or ``migrations/``: inside an installed wheel, or in the checkout."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / name, package_dir.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"pgeventstore: cannot find its {name}/ directory near {package_dir}")


def migrations_dir() -> Path:
    """The folder of versioned yoyo migrations."""
    return _resource_dir("migrations")


def function_files() -> list[Path]:
    """The function files of ``sql/``, in install order."""
    folder = _resource_dir("sql")
    names = [
        line.strip()
        for line in (folder / "install-order.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [folder / name for name in names]


def migration_files() -> list[Path]:
    """The migration files, in the order yoyo applies them (by id)."""
    return sorted(p for p in migrations_dir().glob("*.sql") if not p.name.endswith(".rollback.sql"))


def _recorded_migrations(conn: psycopg.Connection[tuple[str]]) -> set[str]:
    """Migration ids recorded in the schema's own ledger (empty before the first install)."""
    exists = conn.execute("select to_regclass('eventstore.schema_migrations') is not null").fetchone()
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in conn.execute("select migration_id from eventstore.schema_migrations")}


def _remove_legacy_bookkeeping(conn: psycopg.Connection[TupleRow], migration_ids: list[str]) -> None:
    """Remove the yoyo records an earlier release kept of the store's migrations.

    They are in the connection's current schema, where yoyo wrote them, and say nothing the
    ledger does not. The four tables go too once nothing is left in them; they stay, with
    their other rows, when the application keeps its own yoyo migrations there.
    """
    found = conn.execute(
        "select current_schema(), to_regclass(format('%I._yoyo_migration', current_schema())) is not null"
    ).fetchone()
    if not found or not found[1]:
        return
    old = {name: sql.Identifier(found[0], name) for name in YOYO_TABLES}
    conn.execute(
        sql.SQL("delete from {} where migration_id = any(%s)").format(old["_yoyo_log"]), (migration_ids,)
    )
    removed = conn.execute(
        sql.SQL("delete from {} where migration_id = any(%s)").format(old["_yoyo_migration"]),
        (migration_ids,),
    ).rowcount
    others = conn.execute(sql.SQL("select exists (select from {})").format(old["_yoyo_migration"])).fetchone()
    if removed and others and not others[0]:
        conn.execute(sql.SQL("drop table if exists {}").format(sql.SQL(", ").join(old.values())))


@contextlib.contextmanager
def _refusals_translated() -> Iterator[None]:
    """Re-raise a migration's refusal (a store SQLSTATE, ``ES...``) as its exception.

    Any other failure stays psycopg's: a migration or function file that fails is no
    caller's invalid argument.
    """
    try:
        yield
    except psycopg.Error as error:
        if not (error.sqlstate or "").startswith("ES"):
            raise
        raise translate(error) from error


def migrate(dsn: str, then: Callable[[psycopg.Connection[TupleRow]], None] | None = None) -> list[str]:
    """Apply the pending migrations and every function file in one transaction.

    Returns the ids of the migrations applied. yoyo reads the migrations folder (its file
    format, ids and order); what is pending is decided by the schema's own ledger,
    ``eventstore.schema_migrations``, in which every migration records itself whichever
    path ran it, so a database installed from the DBA script is adopted and both paths
    leave the same catalog. yoyo's bookkeeping tables are not used: the ledger is the one
    record, and those an earlier release left beside the application's tables are cleared
    of the store's rows in the same transaction. Callers see the old schema and functions
    or the new ones, never new tables with old functions: a concurrent append waits for the
    locks the migrations take (one already under way when a migration drops a function can
    fail once, as README "Upgrades" says). Running it twice changes nothing the second
    time; concurrent runs wait for each other (an advisory lock, released even when a run
    is killed). A migration that refuses what it finds raises the store's exception for its
    SQLSTATE (0009: :class:`~pgeventstore.errors.StreamNotFound` while a checkpoint names an
    event without a log number) and changes nothing. ``then``, if given, runs last in the
    same transaction (the router of a sharded store installs its routing there, so no
    caller ever sees the router's functions unrouted).
    """
    migrations = read_migrations(str(migrations_dir()))
    with psycopg.connect(dsn, autocommit=True) as conn, _refusals_translated(), conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_INSTALL_LOCK_KEY,))
        recorded = _recorded_migrations(conn)
        pending = [m for m in migrations if m.id not in recorded]
        for path in [Path(m.path) for m in pending] + function_files():
            conn.execute(sql.SQL(path.read_text(encoding="utf-8")))
        _remove_legacy_bookkeeping(conn, [m.id for m in migrations])
        if then is not None:
            then(conn)
    return [m.id for m in pending]


def status(dsn: str) -> list[MigrationStatus]:
    """Every known migration and whether the database's ledger records it."""
    migrations = read_migrations(str(migrations_dir()))
    with psycopg.connect(dsn, autocommit=True) as conn:
        recorded = _recorded_migrations(conn)
    return [MigrationStatus(m.id, m.id in recorded) for m in migrations]


def install_script(files: Sequence[Path] | None = None, trailer: str = "") -> str:
    """One self-contained SQL script installing the whole schema in one transaction.

    It is the migrations followed by the function files, verbatim, so it is identical in
    effect to :func:`migrate` on an empty database. ``trailer`` (SQL) runs last, before
    the commit.
    """
    parts = [
        f"-- pgeventstore {__version__}: install script for the eventstore schema.\n"
        "-- Review it, then apply it to an empty database as a role that may create schemas:\n"
        "--   psql -v ON_ERROR_STOP=1 -f install.sql\n"
        "-- It runs in one transaction: on any error nothing is installed.\n"
        "begin;\n"
    ]
    for path in files if files is not None else [*migration_files(), *function_files()]:
        kind = "migration" if path.parent.name == "migrations" else "function file"
        parts.append(f"\n-- ==== {kind} {path.parent.name}/{path.name} ====\n")
        parts.append(path.read_text(encoding="utf-8").rstrip() + "\n")
    parts.append(trailer)
    parts.append("\ncommit;\n")
    return "".join(parts)


def upgrade_script() -> str:
    r"""A psql script that installs the schema or upgrades an installed one, like :func:`migrate`.

    It holds every migration, each applied only when the ledger does not record it
    (psql's ``\gset`` and ``\if``, so it needs psql 10 or later, not another client),
    then every function file, in one transaction under :func:`migrate`'s advisory lock: a
    DBA without the Python package upgrades as ``migrate`` does, and concurrent runs of
    either wait for each other.
    """
    parts = [
        f"-- pgeventstore {__version__}: install or upgrade script for the eventstore schema.\n"
        "-- Apply it with psql (it uses \\gset and \\if) as the role that owns the schema:\n"
        "--   psql -v ON_ERROR_STOP=1 -f upgrade.sql\n"
        "-- It applies only the migrations the database lacks, then replaces every function,\n"
        "-- in one transaction: on any error nothing changes. Running it again changes nothing.\n"
        "\\set ON_ERROR_STOP on\n"
        "begin;\n"
        f"select pg_catalog.pg_advisory_xact_lock({_INSTALL_LOCK_KEY}) \\gset pgeventstore_\n"
    ]
    for path in migration_files():
        # Asked again before each migration: the first one creates the ledger.
        parts.append(
            f"\n-- ==== migration {path.parent.name}/{path.name}, unless the ledger records it ====\n"
            "select pg_catalog.to_regclass('eventstore.schema_migrations') is null"
            " as pgeventstore_pending \\gset\n"
            "\\if :pgeventstore_pending\n"
            "\\else\n"
            "select not exists (select from eventstore.schema_migrations"
            f" where migration_id = '{path.stem}') as pgeventstore_pending \\gset\n"
            "\\endif\n"
            "\\if :pgeventstore_pending\n" + path.read_text(encoding="utf-8").rstrip() + "\n\\endif\n"
        )
    for path in function_files():
        parts.append(f"\n-- ==== function file {path.parent.name}/{path.name} ====\n")
        parts.append(path.read_text(encoding="utf-8").rstrip() + "\n")
    parts.append("\ncommit;\n")
    return "".join(parts)
