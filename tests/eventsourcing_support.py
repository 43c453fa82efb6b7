"""What the tests of pgeventstore.eventsourcing share: the login role and its settings."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

#: A login role with the writer's privileges only, as an application would run.
ROLE = "pgeventstore_es_app"
ROLE_PASSWORD = "es-app-password"


@pytest.fixture(scope="session")
def eventsourcing_role(admin_dsn: str, template_db: str) -> str:
    """Create :data:`ROLE` once (roles are the cluster's; the template created the groups)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (ROLE,)).fetchone()
        if exists is None:
            conn.execute(
                sql.SQL("create role {} login password {} in role eventstore_writer").format(
                    sql.Identifier(ROLE), sql.Literal(ROLE_PASSWORD)
                )
            )
    return ROLE


def store_settings(dsn: str, *, role: bool = True) -> dict[str, str]:
    """The eventsourcing library's environment settings for the database of ``dsn``."""
    params = conninfo_to_dict(dsn)
    settings = {
        "PERSISTENCE_MODULE": "pgeventstore.eventsourcing",
        "POSTGRES_DBNAME": str(params["dbname"]),
        "POSTGRES_HOST": str(params["host"]),
        "POSTGRES_PORT": str(params["port"]),
        "POSTGRES_USER": ROLE if role else str(params["user"]),
    }
    if role:
        settings["POSTGRES_PASSWORD"] = ROLE_PASSWORD
    return settings
