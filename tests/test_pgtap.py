"""Runs every pgTAP file in pgtap_tests/ with pg_prove, one pytest test per file.

Each file runs in its own fresh database (the store installed, plus the pgtap extension),
so a file may commit, create roles' objects or change settings without touching another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

PGTAP_DIR = Path(__file__).resolve().parent.parent / "pgtap_tests"
PGTAP_FILES = sorted(PGTAP_DIR.glob("*.sql"))


def test_pgtap_files_exist() -> None:
    assert PGTAP_FILES, f"no pgTAP files found in {PGTAP_DIR}"


@pytest.mark.parametrize("path", PGTAP_FILES, ids=[p.name for p in PGTAP_FILES])
def test_pgtap(path: Path, dsn: str) -> None:
    pg_prove = shutil.which("pg_prove")
    assert pg_prove, "pg_prove not found: run scripts/bootstrap.sh (Debian package pgtap)"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension if not exists pgtap")
    params = conninfo_to_dict(dsn)
    # The throwaway cluster's password is in its passfile.
    env = {**os.environ, **({"PGPASSFILE": str(params["passfile"])} if params.get("passfile") else {})}
    result = subprocess.run(
        [
            pg_prove,
            "--verbose",
            "--failures",
            "--host",
            str(params["host"]),
            "--port",
            str(params["port"]),
            "--username",
            str(params["user"]),
            "--dbname",
            str(params["dbname"]),
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Result: PASS" in output, output
