"""Install and upgrade the ``eventstore`` schema.

Two install paths share one source: the yoyo migrations in ``migrations/`` (tables,
types, indexes) and the function files in ``sql/`` (applied after them, in the order of
``sql/install-order.txt``). :func:`migrate` applies both in one transaction, keeping
yoyo's bookkeeping; :func:`install_script` prints both as one SQL script for a DBA.
"""

from __future__ import annotations

import contextlib
import dataclasses
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

from pgeventstore import __version__

#: Advisory lock key (any bigint no other component uses) that serializes concurrent
#: installs, whose function files would otherwise fail with "tuple concurrently updated".
_INSTALL_LOCK_KEY = 0x7067_6573_0001


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


def _yoyo_uri(dsn: str) -> str:
    """Turn a libpq DSN (URL or key=value) into a yoyo URI carrying every parameter."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    return "postgresql+psycopg:?" + urllib.parse.urlencode(params)


def _recorded_migrations(conn: psycopg.Connection[tuple[str]]) -> set[str]:
    """Migration ids recorded in the schema's own ledger (empty before the first install)."""
    exists = conn.execute("select to_regclass('eventstore.schema_migrations') is not null").fetchone()
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in conn.execute("select migration_id from eventstore.schema_migrations")}


@contextlib.contextmanager
def _yoyo_backend(dsn: str) -> Iterator[Any]:
    """A yoyo backend on ``dsn`` whose connection is closed on exit."""
    backend = get_backend(_yoyo_uri(dsn))
    try:
        yield backend
    finally:
        backend.connection.close()


def migrate(dsn: str) -> list[str]:
    """Apply the pending migrations and every function file in one transaction.

    Returns the ids of the migrations applied. What is pending is decided by the schema's
    own ledger, ``eventstore.schema_migrations``, in which every migration records itself
    whichever path ran it, so a database installed from the DBA script is adopted. Callers
    see the old schema and functions or the new ones, never new tables with old functions:
    a concurrent append waits for the locks the migrations take (one already under way
    when a migration drops a function can fail once, as README "Upgrades" says). yoyo's
    tables are brought in line after the commit (a run stopped in between is completed by
    the next). Running it twice changes nothing the second time; concurrent runs wait for
    each other.
    """
    migrations = read_migrations(str(migrations_dir()))
    with _yoyo_backend(dsn) as backend, psycopg.connect(dsn, autocommit=True) as conn, backend.lock():
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (_INSTALL_LOCK_KEY,))
            recorded = _recorded_migrations(conn)
            pending = [m for m in migrations if m.id not in recorded]
            for path in [Path(m.path) for m in pending] + function_files():
                conn.execute(sql.SQL(path.read_text(encoding="utf-8")))
        backend.mark_migrations(backend.to_apply(migrations))
    return [m.id for m in pending]


def status(dsn: str) -> list[MigrationStatus]:
    """Every known migration and whether the database has it (by yoyo or the DBA script)."""
    migrations = read_migrations(str(migrations_dir()))
    with _yoyo_backend(dsn) as backend, psycopg.connect(dsn, autocommit=True) as conn:
        recorded = _recorded_migrations(conn)
        return [MigrationStatus(m.id, m.id in recorded or backend.is_applied(m)) for m in migrations]


def install_script(files: Sequence[Path] | None = None) -> str:
    """One self-contained SQL script installing the whole schema in one transaction.

    It is the migrations followed by the function files, verbatim, so it is identical in
    effect to :func:`migrate` on an empty database.
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
    parts.append("\ncommit;\n")
    return "".join(parts)
