"""The two install paths: ``pgeventstore sql`` applied with psql, and ``pgeventstore migrate``.

Both must leave the identical catalog (compared with pg_dump and with a catalog query that
lists tables, columns, indexes, constraints, functions with their definitions, comments,
grants and triggers) and nothing outside the ``eventstore`` schema; ``migrate`` must be
idempotent, adopt a database a DBA installed with the script, clear the yoyo records an
earlier release left in ``public``, and record every migration so ``version()`` names the
newest one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import create_database, drop_database, dsn_for
from psycopg.conninfo import conninfo_to_dict

from pgeventstore import schema
from pgeventstore.cluster import find_bindir

#: The DBA install script of the released schema (0.1.0, migrations 0001-0008), verbatim:
#: the store that upgrades start from (tests/test_upgrade.py).
RELEASE_SCRIPT = Path(__file__).parent / "fixtures" / "release-0008.sql"

# One line per catalog fact of the eventstore schema, sorted: enough to tell any
# difference in tables, columns, types, indexes, constraints, functions, comments,
# grants, triggers, views and sequences between two databases.
CATALOG_QUERY = """
with ns as (select 'eventstore'::regnamespace as oid)
select fact from (
    select format('schema owner=%s acl=%s comment=%s', pg_get_userbyid(n.nspowner), n.nspacl,
                  obj_description(n.oid, 'pg_namespace')) as fact
      from pg_namespace n, ns where n.oid = ns.oid
    union all
    select format('relation %s kind=%s acl=%s options=%s comment=%s',
                  c.relname, c.relkind, c.relacl, c.reloptions, obj_description(c.oid, 'pg_class'))
      from pg_class c, ns where c.relnamespace = ns.oid
    union all
    select format('column %s.%s %s notnull=%s default=%s identity=%s generated=%s collation=%s '
                  'acl=%s comment=%s',
                  c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, co.collname, a.attacl,
                  col_description(c.oid, a.attnum))
      from pg_class c
      join ns on c.relnamespace = ns.oid
      join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
      left join pg_collation co on co.oid = a.attcollation
    union all
    select format('index %s', pg_get_indexdef(i.indexrelid))
      from pg_index i join pg_class c on c.oid = i.indexrelid, ns where c.relnamespace = ns.oid
    union all
    select format('constraint %s on %s: %s',
                  con.conname, con.conrelid::regclass, pg_get_constraintdef(con.oid))
      from pg_constraint con, ns where con.connamespace = ns.oid
    union all
    select format('function %s acl=%s comment=%s definition=%s', p.oid::regprocedure, p.proacl,
                  obj_description(p.oid, 'pg_proc'), pg_get_functiondef(p.oid))
      from pg_proc p, ns where p.pronamespace = ns.oid and p.prokind in ('f', 'p', 'w')
    union all
    select format('aggregate %s acl=%s', p.oid::regprocedure, p.proacl)
      from pg_proc p, ns where p.pronamespace = ns.oid and p.prokind = 'a'
    union all
    select format('type %s kind=%s acl=%s comment=%s', t.typname, t.typtype, t.typacl,
                  obj_description(t.oid, 'pg_type'))
      from pg_type t, ns where t.typnamespace = ns.oid
    union all
    select format('trigger %s', pg_get_triggerdef(tg.oid))
      from pg_trigger tg join pg_class c on c.oid = tg.tgrelid, ns
     where c.relnamespace = ns.oid and not tg.tgisinternal
    union all
    select format('view %s: %s', c.relname, pg_get_viewdef(c.oid))
      from pg_class c, ns where c.relnamespace = ns.oid and c.relkind in ('v', 'm')
    union all
    select format('sequence %s: %s %s %s %s',
                  c.relname, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqcycle)
      from pg_sequence s join pg_class c on c.oid = s.seqrelid, ns where c.relnamespace = ns.oid
    union all
    select format('default acl %s %s', d.defaclobjtype, d.defaclacl)
      from pg_default_acl d, ns where d.defaclnamespace = ns.oid
    union all
    select format('policy %s on %s: %s %s',
                  pol.polname, pol.polrelid::regclass, pol.polcmd, pg_get_expr(pol.polqual, pol.polrelid))
      from pg_policy pol join pg_class c on c.oid = pol.polrelid, ns where c.relnamespace = ns.oid
) facts
order by fact
"""


def tool(name: str) -> str:
    """A PostgreSQL client program matching the server binaries, else the one on PATH."""
    candidate = find_bindir() / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    assert found, f"{name} not found: run scripts/bootstrap.sh"
    return found


def cli(*args: str, dsn: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``pgeventstore`` command (the one beside this interpreter)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGEVENTSTORE_DSN", "DATABASE_URL")}
    if dsn is not None:
        env["PGEVENTSTORE_DSN"] = dsn
    command = Path(sys.executable).parent / "pgeventstore"
    return subprocess.run(
        [str(command), *args], capture_output=True, text=True, check=False, env=env, timeout=300
    )


def psql_file(dsn: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool("psql"),
            "--dbname",
            dsn,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def install_with_script(dsn: str, tmp_path: Path) -> None:
    """The DBA path: ``pgeventstore sql > install.sql`` then ``psql -v ON_ERROR_STOP=1 -f``."""
    printed = cli("sql")
    assert printed.returncode == 0, printed.stderr
    script = tmp_path / "install.sql"
    script.write_text(printed.stdout, encoding="utf-8")
    applied = psql_file(dsn, script)
    assert applied.returncode == 0, applied.stdout + applied.stderr


def pg_dump_schema(dsn: str) -> str:
    result = subprocess.run(
        [tool("pg_dump"), "--schema-only", "--schema", "eventstore", "--dbname", dsn],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # Recent pg_dump releases fence the dump with a random \restrict key: not catalog.
    return "".join(
        line
        for line in result.stdout.splitlines(keepends=True)
        if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def catalog(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute(CATALOG_QUERY)]


def tables_outside_the_store(dsn: str) -> list[str]:
    """Every table of the database that is neither the store's nor the system's."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select schemaname || '.' || tablename from pg_tables"
            " where schemaname not in ('eventstore', 'pg_catalog', 'information_schema') order by 1"
        ).fetchall()
    return [row[0] for row in rows]


def public_yoyo_records(dsn: str) -> tuple[list[str], list[str]]:
    """The migration ids in ``public._yoyo_migration`` and in ``public._yoyo_log``."""
    with psycopg.connect(dsn) as conn:
        applied = [
            row[0] for row in conn.execute("select migration_id from public._yoyo_migration order by 1")
        ]
        logged = [row[0] for row in conn.execute("select migration_id from public._yoyo_log order by 1")]
    return applied, logged


def install_like_an_earlier_release(dsn: str, count: int) -> None:
    """What earlier releases left: the first ``count`` migrations applied through yoyo,
    whose bookkeeping went to the connection's current schema (``public``)."""
    from yoyo import get_backend, read_migrations

    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    backend = get_backend("postgresql+psycopg:?" + urllib.parse.urlencode(params))
    try:
        with backend.lock():
            backend.apply_migrations(backend.to_apply(read_migrations(str(schema.migrations_dir()))[:count]))
    finally:
        backend.connection.close()


def ledger(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select migration_id from eventstore.schema_migrations order by 1").fetchall()
    return [row[0] for row in rows]


def installed_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select eventstore.version()").fetchone()
    assert row is not None
    return str(row[0])


def migration_ids() -> list[str]:
    return [path.name.removesuffix(".sql") for path in schema.migration_files()]


def release_script(without_migration: str | None = None) -> str:
    """The released DBA install script (RELEASE_SCRIPT), optionally without one migration.

    Leaving out 0008 gives a store as the release before it left it: the release's function
    files on migrations 0001-0007, which is how 0008 found the stores it upgraded.
    """
    text = RELEASE_SCRIPT.read_text(encoding="utf-8")
    if without_migration is None:
        return text
    start = text.index(f"\n-- ==== migration migrations/{without_migration}")
    end = text.index("\n-- ==== ", start + 1)
    return text[:start] + text[end:]


@pytest.fixture
def make_empty_db(admin_dsn: str) -> Iterator[Callable[[], str]]:
    """Create as many fresh, empty databases as a test needs; all are dropped afterwards."""
    names: list[str] = []

    def make() -> str:
        names.append(create_database(admin_dsn))
        return dsn_for(admin_dsn, names[-1])

    yield make
    for name in names:
        drop_database(admin_dsn, name)


def test_script_and_migrate_give_the_same_catalog(make_empty_db, tmp_path) -> None:
    by_script, by_migrate = make_empty_db(), make_empty_db()
    install_with_script(by_script, tmp_path)
    migrated = cli("migrate", dsn=by_migrate)
    assert migrated.returncode == 0, migrated.stderr

    script_catalog = catalog(by_script)
    assert any(fact.startswith("function eventstore.append_to_stream(") for fact in script_catalog)
    assert any(fact.startswith("index CREATE") for fact in script_catalog)
    assert catalog(by_migrate) == script_catalog
    assert tables_outside_the_store(by_migrate) == tables_outside_the_store(by_script) == []
    dump = pg_dump_schema(by_script)
    assert "CREATE FUNCTION eventstore.append_to_stream(" in dump
    assert pg_dump_schema(by_migrate) == dump
    assert ledger(by_migrate) == ledger(by_script) == migration_ids()


def test_the_catalog_comparison_sees_a_difference(make_empty_db) -> None:
    first, second = make_empty_db(), make_empty_db()
    schema.migrate(first)
    schema.migrate(second)
    assert catalog(first) == catalog(second)
    with psycopg.connect(second, autocommit=True) as conn:
        conn.execute("comment on function eventstore.version() is 'changed'")
    assert catalog(first) != catalog(second)
    with psycopg.connect(second, autocommit=True) as conn:
        conn.execute("create or replace function eventstore.version() returns text language sql return 'x'")
    assert [f for f in catalog(first) if "version()" in f] != [f for f in catalog(second) if "version()" in f]


def test_version_names_the_newest_migration_file(make_empty_db, tmp_path) -> None:
    newest = max(migration_ids())
    by_script, by_migrate = make_empty_db(), make_empty_db()
    install_with_script(by_script, tmp_path)
    schema.migrate(by_migrate)
    assert installed_version(by_script) == newest
    assert installed_version(by_migrate) == newest


def test_migrate_twice_changes_nothing(make_empty_db) -> None:
    dsn = make_empty_db()
    assert schema.migrate(dsn) == migration_ids()
    before = (catalog(dsn), pg_dump_schema(dsn), ledger(dsn))
    second = cli("migrate", dsn=dsn)
    assert second.returncode == 0, second.stderr
    assert "0 migration(s) applied" in second.stdout
    assert (catalog(dsn), pg_dump_schema(dsn), ledger(dsn)) == before
    assert all(s.applied for s in schema.status(dsn))


def test_migrate_keeps_the_data(make_empty_db) -> None:
    dsn = make_empty_db()
    schema.migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('select eventstore.append_to_stream(\'keep-1\', -1, \'[{"type": "A", "data": 1}]\')')
    schema.migrate(dsn)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select eventstore.stream_version('keep-1')").fetchone() == (0,)


def test_migrate_adopts_a_database_installed_by_the_script(make_empty_db, tmp_path) -> None:
    by_script, by_migrate = make_empty_db(), make_empty_db()
    install_with_script(by_script, tmp_path)
    schema.migrate(by_migrate)
    before = catalog(by_script)

    status = cli("status", dsn=by_script)
    assert status.returncode == 0, status.stderr
    assert status.stdout.split() == [word for m in migration_ids() for word in ("applied", m)]

    assert schema.migrate(by_script) == []
    assert catalog(by_script) == before == catalog(by_migrate)
    assert ledger(by_script) == migration_ids()
    assert tables_outside_the_store(by_script) == []


def test_status_lists_pending_then_applied(make_empty_db) -> None:
    dsn = make_empty_db()
    pending = cli("status", dsn=dsn)
    assert pending.returncode == 0, pending.stderr
    assert pending.stdout.split() == [word for m in migration_ids() for word in ("pending", m)]
    assert tables_outside_the_store(dsn) == [], "status only reads"
    schema.migrate(dsn)
    applied = cli("status", dsn=dsn)
    assert applied.stdout.split() == [word for m in migration_ids() for word in ("applied", m)]


def test_an_upgrade_applies_only_the_missing_migrations(make_empty_db) -> None:
    """A database at the first migration, as an earlier release left it (yoyo's bookkeeping
    in ``public``), upgrades to the same catalog as a fresh install, and ``public`` is left
    as the application had it: empty."""
    old, fresh = make_empty_db(), make_empty_db()
    install_like_an_earlier_release(old, 1)
    assert ledger(old) == migration_ids()[:1]
    assert public_yoyo_records(old) == (migration_ids()[:1], migration_ids()[:1])
    assert schema.migrate(old) == migration_ids()[1:]
    schema.migrate(fresh)
    assert catalog(old) == catalog(fresh)
    assert ledger(old) == migration_ids()
    assert tables_outside_the_store(old) == []


def test_an_upgrade_leaves_the_applications_own_yoyo_records(make_empty_db) -> None:
    """An application that keeps its own yoyo migrations in ``public`` keeps them, and the
    tables holding them; only the store's rows go."""
    dsn = make_empty_db()
    install_like_an_earlier_release(dsn, 1)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "insert into public._yoyo_migration (migration_hash, migration_id, applied_at_utc)"
            " values ('app-hash', 'app-0001.customers', now())"
        )
        conn.execute(
            "insert into public._yoyo_log (id, migration_hash, migration_id, operation, created_at_utc)"
            " values ('app-log-1', 'app-hash', 'app-0001.customers', 'apply', now())"
        )
    schema.migrate(dsn)
    assert public_yoyo_records(dsn) == (["app-0001.customers"], ["app-0001.customers"])
    assert tables_outside_the_store(dsn) == [f"public.{table}" for table in sorted(schema.YOYO_TABLES)]
    assert schema.migrate(dsn) == []
    assert public_yoyo_records(dsn) == (["app-0001.customers"], ["app-0001.customers"])
    assert ledger(dsn) == migration_ids()


def test_migrate_is_one_transaction(make_empty_db, tmp_path, monkeypatch) -> None:
    """An upgrade whose function files fail changes nothing: the migrations it ran are
    undone with them, and neither ledger records them."""
    dsn = make_empty_db()
    old = tmp_path / "old-install.sql"
    old.write_text(schema.install_script(schema.migration_files()[:1]), encoding="utf-8")
    assert psql_file(dsn, old).returncode == 0
    before = (catalog(dsn), ledger(dsn))
    broken = tmp_path / "broken.sql"
    broken.write_text("select 1 / 0;", encoding="utf-8")
    files = schema.function_files()
    monkeypatch.setattr(schema, "function_files", lambda: [*files, broken])
    with pytest.raises(psycopg.errors.DivisionByZero):
        schema.migrate(dsn)
    assert (catalog(dsn), ledger(dsn)) == before
    assert [s.applied for s in schema.status(dsn)] == [True] + [False] * (len(migration_ids()) - 1)
    monkeypatch.undo()
    assert schema.migrate(dsn) == migration_ids()[1:]


def test_a_session_open_across_the_upgrade_keeps_the_category_index(make_empty_db, tmp_path) -> None:
    """0008 lets PostgreSQL inline eventstore.category; a session that read the category
    index before the upgrade must match the inlined condition to it afterwards too."""
    dsn = make_empty_db()
    script = tmp_path / "at-0007.sql"
    script.write_text(release_script(without_migration="0008"), encoding="utf-8")
    applied = psql_file(dsn, script)
    assert applied.returncode == 0, applied.stderr
    assert ledger(dsn) == [m for m in migration_ids() if m < "0008"]
    query = (
        "explain (costs off) select e.global_position from eventstore.events e"
        " where eventstore.category(e.stream_id) = 'order'"
    )
    with psycopg.connect(dsn, autocommit=True) as session:
        session.execute("set enable_seqscan = off")
        plan = "\n".join(row[0] for row in session.execute(query))
        assert "events_category_idx" in plan and "split_part" not in plan, plan
        assert schema.migrate(dsn) == [p.stem for p in schema.migration_files() if p.name >= "0008"]
        plan = "\n".join(row[0] for row in session.execute(query))
    # The session sees the inlined rule; since 0013 the category index is the log's
    # (log_category_idx), so the events' is gone for it as for any session.
    assert "split_part" in plan and "events_category_idx" not in plan, plan


def test_the_script_is_one_transaction(make_empty_db, tmp_path) -> None:
    """Applied to a database that already has the store, the script fails and changes nothing."""
    dsn = make_empty_db()
    schema.migrate(dsn)
    before = (catalog(dsn), ledger(dsn))
    script = tmp_path / "install.sql"
    script.write_text(schema.install_script(), encoding="utf-8")
    again = psql_file(dsn, script)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert (catalog(dsn), ledger(dsn)) == before


def test_the_script_is_self_contained(make_empty_db, tmp_path) -> None:
    text = schema.install_script()
    assert text.count("\nbegin;\n") == 1
    assert text.rstrip().endswith("commit;")
    assert "\\i " not in text and "\\include" not in text
    for path in [*schema.migration_files(), *schema.function_files()]:
        assert path.read_text(encoding="utf-8").strip() in text, path.name
    dsn = make_empty_db()
    install_with_script(dsn, tmp_path)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from eventstore.events").fetchone() == (0,)
        tables = {r[0] for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")}
    assert tables == set(), "the script creates nothing outside its schema"


def test_migrate_upgrades_a_database_a_dba_installed_from_an_older_script(make_empty_db, tmp_path) -> None:
    """The DBA applied an older release's script (only the first migration); migrate adopts
    what the ledger records and applies the rest."""
    old, fresh = make_empty_db(), make_empty_db()
    script = tmp_path / "old-install.sql"
    script.write_text(schema.install_script(schema.migration_files()[:1]), encoding="utf-8")
    applied = psql_file(old, script)
    assert applied.returncode == 0, applied.stderr
    assert ledger(old) == migration_ids()[:1]
    assert schema.migrate(old) == migration_ids()[1:]
    schema.migrate(fresh)
    assert catalog(old) == catalog(fresh)
    assert ledger(old) == migration_ids()


def upgrade_with_script(dsn: str, tmp_path: Path) -> str:
    """The DBA's upgrade path: ``pgeventstore sql --upgrade``, applied with psql; its output."""
    printed = cli("sql", "--upgrade")
    assert printed.returncode == 0, printed.stderr
    script = tmp_path / "upgrade.sql"
    script.write_text(printed.stdout, encoding="utf-8")
    applied = psql_file(dsn, script)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return applied.stdout


def test_the_upgrade_script_installs_an_empty_database_as_migrate_does(make_empty_db, tmp_path) -> None:
    by_script, by_migrate = make_empty_db(), make_empty_db()
    assert upgrade_with_script(by_script, tmp_path) == "", "psql prints nothing but errors"
    schema.migrate(by_migrate)
    assert catalog(by_script) == catalog(by_migrate)
    assert pg_dump_schema(by_script) == pg_dump_schema(by_migrate)
    assert ledger(by_script) == migration_ids()
    assert schema.migrate(by_script) == [], "migrate adopts what the script applied"


def test_the_upgrade_script_applies_only_what_the_store_lacks(make_empty_db, tmp_path) -> None:
    """A store the DBA installed from an older script (the first two migrations) is upgraded;
    applied again, the script changes nothing."""
    old, fresh = make_empty_db(), make_empty_db()
    script = tmp_path / "old-install.sql"
    script.write_text(schema.install_script(schema.migration_files()[:2]), encoding="utf-8")
    assert psql_file(old, script).returncode == 0
    upgrade_with_script(old, tmp_path)
    schema.migrate(fresh)
    assert catalog(old) == catalog(fresh)
    assert ledger(old) == migration_ids()
    before = (catalog(old), pg_dump_schema(old), ledger(old))
    upgrade_with_script(old, tmp_path)
    assert (catalog(old), pg_dump_schema(old), ledger(old)) == before


def test_the_upgrade_script_is_one_transaction(make_empty_db, tmp_path) -> None:
    """A migration that fails leaves the store as it was: nothing of the earlier ones stays."""
    dsn = make_empty_db()
    script = tmp_path / "old-install.sql"
    script.write_text(schema.install_script(schema.migration_files()[:1]), encoding="utf-8")
    assert psql_file(dsn, script).returncode == 0
    before = catalog(dsn)
    text = schema.upgrade_script()
    broken = text[: text.rindex("commit;")] + "select 1 / 0;\ncommit;\n"
    script.write_text(broken, encoding="utf-8")
    failed = psql_file(dsn, script)
    assert failed.returncode != 0 and "division by zero" in failed.stderr
    assert catalog(dsn) == before
    assert ledger(dsn) == migration_ids()[:1]
