"""Fixtures shared by every test: one PostgreSQL server per test session.

Without configuration the session starts a throwaway cluster from the machine's server
binaries (pgeventstore.cluster). With ``PGEVENTSTORE_TEST_DSN`` set to a superuser DSN it
uses that server instead, and creates and drops only databases named ``pgeventstore_test_*``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgeventstore import schema
from pgeventstore.cluster import temporary_cluster


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run the long soak variants")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak variant: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def admin_dsn() -> Iterator[str]:
    """A superuser DSN on the session's server."""
    configured = os.environ.get("PGEVENTSTORE_TEST_DSN")
    if configured:
        yield configured
        return
    with temporary_cluster() as cluster:
        yield cluster.dsn()


def dsn_for(admin_dsn: str, dbname: str) -> str:
    """``admin_dsn`` pointed at another database."""
    params = conninfo_to_dict(admin_dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)  # type: ignore[arg-type]


def create_database(admin_dsn: str, template: str | None = None) -> str:
    """Create a fresh, uniquely named test database and return its name."""
    name = f"pgeventstore_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(query)
    return name


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a database this session created."""
    assert name.startswith("pgeventstore_test_")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_db(admin_dsn: str) -> Iterator[str]:
    """A database with the store migrated, the template of every test database."""
    name = create_database(admin_dsn)
    schema.migrate(dsn_for(admin_dsn, name))
    yield name
    drop_database(admin_dsn, name)


@pytest.fixture
def empty_dsn(admin_dsn: str) -> Iterator[str]:
    """A DSN on a fresh, empty database (no store installed)."""
    name = create_database(admin_dsn)
    yield dsn_for(admin_dsn, name)
    drop_database(admin_dsn, name)


@pytest.fixture
def dsn(admin_dsn: str, template_db: str) -> Iterator[str]:
    """A DSN on a fresh database with the store installed."""
    name = create_database(admin_dsn, template=template_db)
    yield dsn_for(admin_dsn, name)
    drop_database(admin_dsn, name)
