"""`pgeventstore demo` and `pgeventstore dev-server`, run as a user would, in subprocesses."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pgeventstore import EventStore, NewEvent
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
        assert f"port {port} is taken by another program" in restarted.stderr
        with EventStore(moved) as store:
            assert store.stream_version("order-1-1") == 1


def test_demo_on_a_given_database(dsn: str, dev_home: Path) -> None:
    result = pgeventstore("demo", home=dev_home, dsn=dsn)
    assert result.returncode == 0, result.stderr
    assert "embedded" not in result.stdout
    dbname = conninfo_to_dict(dsn)["dbname"]
    assert result.stdout.startswith(f"demo on the database {dbname} on 127.0.0.1:")
    assert rows(result.stdout, "order-1-1")[-1][:2] == ["order-1-1", "1"]
    assert not (dev_home / "data").exists()


def test_demo_on_the_binaries_of_pgserver(dev_home: Path) -> None:
    # What a machine without PostgreSQL gets from pip install 'pgeventstore[embedded]'.
    bindir = pgserver_bindir()
    assert bindir is not None, "the dev extra installs pgserver"
    result = pgeventstore("demo", home=dev_home, bindir=bindir)
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout, "order-1-1")[-1][:5] == ["order-1-1", "1", "v1", "0", "shipped"]
    # From where they are, or (as root, from a checkout its server user cannot enter) from
    # their copy in the cluster's home.
    copy = dev_home / "pginstall" / "pgserver" / "pginstall"
    opts = (dev_home / "data" / "postmaster.opts").read_text()
    assert str(bindir.parent) in opts or (os.geteuid() == 0 and str(copy) in opts), opts


def one_line_failure(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("pgeventstore: "), result.stderr
    return result.stderr


def test_demo_refuses_a_database_holding_other_data(dsn: str, dev_home: Path) -> None:
    with EventStore(dsn) as store:
        store.append("invoice-7", [NewEvent("Issued", {})])
    refused = pgeventstore("demo", home=dev_home, dsn=dsn)
    line = one_line_failure(refused, 11)
    assert "stream invoice-7" in line and "--force" in line
    with EventStore(dsn) as store:
        assert store.stream_version("demo-runs") == -1, "the refused demo wrote nothing"
    forced = pgeventstore("demo", "--force", home=dev_home, dsn=dsn)
    assert forced.returncode == 0, forced.stderr
    with EventStore(dsn) as store:
        assert store.stream_version("demo-runs") == 0


def test_demo_runs_again_on_its_own_data_but_not_beside_an_application_table(
    empty_dsn: str, dev_home: Path
) -> None:
    first = pgeventstore("demo", home=dev_home, dsn=empty_dsn)
    assert first.returncode == 0, first.stderr
    second = pgeventstore("demo", home=dev_home, dsn=empty_dsn)
    assert second.returncode == 0, second.stderr
    assert "demo run 2" in second.stdout
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("create table customers (id int)")
    line = one_line_failure(pgeventstore("demo", home=dev_home, dsn=empty_dsn), 11)
    assert "table public.customers" in line


def test_the_dev_cluster_is_private_to_its_creator(dev_home: Path) -> None:
    started = pgeventstore("dev-server", "start", home=dev_home)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert "password" not in url and ":" not in url.split("@")[0].removeprefix("postgresql://")
    passfile = dev_home / "passfile"
    assert f"passfile={passfile}" in url
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(dev_home.stat().st_mode) == 0o700
    hba = (dev_home / "data" / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert rules and all(rule[-1] == "scram-sha-256" for rule in rules), hba
    with psycopg.connect(url) as conn:
        assert conn.execute("select current_user").fetchone() == ("postgres",)
    port = url.split(":")[2].split("/")[0]
    for without_password in (f"host=127.0.0.1 port={port}", f"host={dev_home} port={port}"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"{without_password} user=postgres dbname=postgres passfile=/dev/null").close()


def test_a_trusting_dev_cluster_of_an_older_release_is_made_private(dev_home: Path) -> None:
    assert pgeventstore("dev-server", "start", home=dev_home).returncode == 0
    assert pgeventstore("dev-server", "stop", home=dev_home).returncode == 0
    # What an older release left: trust for every local login, and no passfile.
    hba = dev_home / "data" / "pg_hba.conf"
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    (dev_home / "passfile").unlink()
    started = pgeventstore("dev-server", "start", home=dev_home)
    assert started.returncode == 0, started.stderr
    assert "trust" not in hba.read_text()
    with psycopg.connect(started.stdout.strip()) as conn:
        assert conn.execute("select current_user").fetchone() == ("postgres",)


def test_dev_server_keeps_its_port_when_restarted_with_clients_connected(dev_home: Path) -> None:
    url = pgeventstore("dev-server", "start", home=dev_home).stdout.strip()
    for _ in range(2):
        # Fast shutdown closes the clients' connections first: their ports linger (TIME_WAIT).
        clients = [psycopg.connect(url) for _ in range(3)]
        for conn in clients:
            conn.execute("select 1")
        assert pgeventstore("dev-server", "stop", home=dev_home).stdout.strip() == "stopped"
        for conn in clients:
            conn.close()
        restarted = pgeventstore("dev-server", "start", home=dev_home)
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.strip() == url
        assert restarted.stderr == ""


def test_dev_server_without_a_command_prints_its_help(dev_home: Path) -> None:
    result = pgeventstore("dev-server", home=dev_home)
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: pgeventstore dev-server")
    assert "Commands:" in result.stderr.splitlines()
    assert not result.stderr.startswith("pgeventstore:")


@pytest.fixture
def private_folder() -> Iterator[Path]:
    """A mode-700 folder the server user cannot enter (as root's home on Debian)."""
    folder = Path(tempfile.mkdtemp(prefix="pgeventstore-private-"))
    folder.chmod(0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_demo_on_pgserver_binaries_in_a_folder_the_server_cannot_enter(
    dev_home: Path, private_folder: Path
) -> None:
    # A virtualenv under root's mode-700 home: the server user cannot run its binaries.
    source = pgserver_bindir()
    assert source is not None, "the dev extra installs pgserver"
    site = private_folder / "venv" / "site-packages"
    install = site / "pgserver" / "pginstall"
    shutil.copytree(source.parent, install, symlinks=True, ignore=shutil.ignore_patterns("include"))
    libs = source.parent.parent.parent / "pgserver.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name)
    result = pgeventstore("demo", home=dev_home, bindir=install / "bin")
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout, "order-1-1")[-1][:5] == ["order-1-1", "1", "v1", "0", "shipped"]
    opts = (dev_home / "data" / "postmaster.opts").read_text()
    if os.geteuid() == 0:
        # The server ran a copy in the cluster's home, which its user may enter.
        assert str(dev_home / "pginstall" / "pgserver" / "pginstall" / "bin") in opts
    else:
        assert str(install / "bin") in opts


@pytest.mark.skipif(os.geteuid() != 0, reason="only root's server runs as another user")
def test_a_dev_home_the_server_cannot_reach_fails_in_one_line_and_leaves_nothing(
    private_folder: Path,
) -> None:
    home = private_folder / "dev" / "cluster"
    result = pgeventstore("dev-server", "start", home=home)
    line = one_line_failure(result, 1)
    assert f"may not enter {private_folder}" in line
    assert list(private_folder.iterdir()) == []
    demo = pgeventstore("demo", home=home)
    assert f"may not enter {private_folder}" in one_line_failure(demo, 1)
    assert list(private_folder.iterdir()) == []
