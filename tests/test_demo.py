"""`pgeventstore demo` and `pgeventstore dev-server`, run as a user would, in subprocesses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgeventstore import EventStore
from pgeventstore.cluster import pgserver_bindir

CLI = str(Path(sys.executable).parent / "pgeventstore")


@pytest.fixture
def dev_home() -> Iterator[Path]:
    # mkdtemp, not tmp_path: as root the server runs as another user, and the cluster
    # code hands this folder (not its 0700 parents) over to that user.
    home = Path(tempfile.mkdtemp(prefix="pgeventstore-dev-"))
    yield home
    pgeventstore("dev-server", "stop", home=home)
    shutil.rmtree(home, ignore_errors=True)


def pgeventstore(
    *args: str, home: Path, dsn: str | None = None, bindir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGEVENTSTORE_DSN", "DATABASE_URL")}
    env["PGEVENTSTORE_DEV_HOME"] = str(home)
    if bindir is not None:
        env["PGEVENTSTORE_PG_BINDIR"] = str(bindir)
    if dsn is not None:
        env["PGEVENTSTORE_DSN"] = dsn
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=180, check=False)


def rows(output: str, stream_id: str) -> list[str]:
    return [line.split() for line in output.splitlines() if line.strip().startswith(stream_id + " ")]


def test_demo_twice_on_the_embedded_cluster_keeps_the_orders(dev_home: Path) -> None:
    first = pgeventstore("demo", home=dev_home)
    assert first.returncode == 0, first.stderr
    assert "demo run 1" in first.stdout
    assert "rejected: only a placed order can be shipped; this one is cancelled" in first.stdout
    assert "rejected: a shipment needs a tracking number" in first.stdout
    # Rebuilt: stream, version, snapshot used, events replayed, status.
    assert rows(first.stdout, "order-1-1")[-1][:5] == ["order-1-1", "1", "v1", "0", "shipped"]
    assert rows(first.stdout, "order-1-2")[-1][:5] == ["order-1-2", "1", "v1", "0", "cancelled"]
    assert rows(first.stdout, "order-1-3")[-1][:5] == ["order-1-3", "0", "none", "1", "placed"]
    assert "running: no" in pgeventstore("dev-server", "status", home=dev_home).stdout

    second = pgeventstore("demo", home=dev_home)
    assert second.returncode == 0, second.stderr
    assert "demo run 2" in second.stdout
    assert rows(second.stdout, "order-1-1")[-1][:5] == ["order-1-1", "1", "v1", "0", "shipped"]
    assert rows(second.stdout, "order-2-2")[-1][:5] == ["order-2-2", "1", "v1", "0", "cancelled"]
    assert "orders per status, from the rebuilt aggregates: cancelled 2, placed 2, shipped 2" in second.stdout
    assert "(global log): cancelled 2, placed 2, shipped 2" in second.stdout


def test_dev_server_start_status_url_stop(dev_home: Path) -> None:
    assert pgeventstore("dev-server", "url", home=dev_home).returncode == 1
    started = pgeventstore("dev-server", "start", home=dev_home)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert pgeventstore("dev-server", "url", home=dev_home).stdout.strip() == url
    status = pgeventstore("dev-server", "status", home=dev_home).stdout
    assert f"home: {dev_home}" in status
    assert f"running: yes, {url}" in status
    # A running server is used and left running by the demo.
    assert pgeventstore("demo", home=dev_home).returncode == 0
    with EventStore(url) as store:
        assert store.stream_version("order-1-1") == 1
    assert pgeventstore("dev-server", "stop", home=dev_home).stdout.strip() == "stopped"
    assert pgeventstore("dev-server", "stop", home=dev_home).stdout.strip() == "not running"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()
    assert "initialized: yes" in pgeventstore("dev-server", "status", home=dev_home).stdout

    # Another program took the port meanwhile: the cluster moves to a free one, data intact.
    port = int(url.split(":")[-1].split("/")[0])
    with socket.socket() as squatter:
        # The server's closed connections may leave the port in TIME_WAIT for a while.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        restarted = pgeventstore("dev-server", "start", home=dev_home)
        assert restarted.returncode == 0, restarted.stderr
        moved = restarted.stdout.strip()
        assert moved != url
        with EventStore(moved) as store:
            assert store.stream_version("order-1-1") == 1


def test_demo_on_a_given_database(dsn: str, dev_home: Path) -> None:
    result = pgeventstore("demo", home=dev_home, dsn=dsn)
    assert result.returncode == 0, result.stderr
    assert "embedded" not in result.stdout
    assert rows(result.stdout, "order-1-1")[-1][:2] == ["order-1-1", "1"]
    assert not (dev_home / "data").exists()


def test_demo_on_the_binaries_of_pgserver(dev_home: Path) -> None:
    # What a machine without PostgreSQL gets from pip install 'pgeventstore[embedded]'.
    bindir = pgserver_bindir()
    assert bindir is not None, "the dev extra installs pgserver"
    result = pgeventstore("demo", home=dev_home, bindir=bindir)
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout, "order-1-1")[-1][:5] == ["order-1-1", "1", "v1", "0", "shipped"]
    assert f"{bindir.parent}" in (dev_home / "data" / "postmaster.opts").read_text()
