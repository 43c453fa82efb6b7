"""Roles across databases and install paths (issue 7; the grants themselves are proved
by pgtap_tests/80_privileges.sql).

The roles are cluster-wide while installs are per database: installing into a second
database of the cluster, by ``migrate`` or by the DBA script, must find the roles and
grant the same privileges.
"""

from __future__ import annotations

import psycopg

from pgeventstore import schema

GRANTS = """
select p.proname::text, r.rolname::text
  from pg_proc p cross join pg_roles r
 where p.pronamespace = 'eventstore'::regnamespace
   and r.rolname in ('eventstore_reader', 'eventstore_writer', 'eventstore_admin')
   and has_function_privilege(r.oid, p.oid, 'execute')
 order by 1, 2
"""


def test_grants_are_applied_last() -> None:
    assert schema.function_files()[-1].name == "grants.sql"


def test_a_second_database_by_either_path_gets_the_same_grants(
    dsn: str, empty_dsn: str, admin_dsn: str
) -> None:
    # dsn's cluster already has the roles (the template database was migrated).
    schema.migrate(empty_dsn)
    with psycopg.connect(dsn) as first, psycopg.connect(empty_dsn) as second:
        expected = first.execute(GRANTS).fetchall()
        assert second.execute(GRANTS).fetchall() == expected
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("create database pgeventstore_test_dba_script")
    try:
        dba_dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname="pgeventstore_test_dba_script")
        with psycopg.connect(dba_dsn, autocommit=True) as conn:
            conn.execute(schema.install_script().encode())
            assert conn.execute(GRANTS).fetchall() == expected
            roles = conn.execute(
                "select count(*) from pg_roles where not rolcanlogin"
                " and rolname in ('eventstore_reader', 'eventstore_writer', 'eventstore_admin')"
            ).fetchone()
            assert roles == (3,)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute("drop database if exists pgeventstore_test_dba_script with (force)")
