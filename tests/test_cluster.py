"""The throwaway clusters of the test suite (and of bench) are private, as the dev cluster is."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo


@pytest.mark.skipif(bool(os.environ.get("PGEVENTSTORE_TEST_DSN")), reason="a server of the caller's own")
def test_a_throwaway_cluster_lets_in_only_who_has_its_password(admin_dsn: str) -> None:
    params = conninfo_to_dict(admin_dsn)
    passfile = Path(str(params["passfile"]))
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(passfile.parent.stat().st_mode) == 0o700
    with psycopg.connect(admin_dsn) as conn:
        assert conn.execute("select current_user").fetchone() == ("postgres",)
    for host in ("127.0.0.1", str(passfile.parent)):
        stranger = make_conninfo(admin_dsn, host=host, passfile="/dev/null")
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(stranger, connect_timeout=10).close()
