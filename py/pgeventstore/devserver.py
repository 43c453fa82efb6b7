"""The embedded development server: one persistent private PostgreSQL cluster per user.

``pgeventstore demo`` (without a DSN) and ``pgeventstore dev-server`` use it. It lives in
``PGEVENTSTORE_DEV_HOME``, else ``$XDG_DATA_HOME/pgeventstore/dev-cluster`` (default
``~/.local/share/...``); as root in ``/var/lib/pgeventstore/dev-cluster``, because the
server then runs as an unprivileged user who cannot enter root's home. Its data survives
stops and restarts, and so does its port (kept in ``port`` in its home), so a URL stays
valid. It is private to its creator (see :mod:`pgeventstore.cluster`): its URL names the
passfile holding the password. It runs from the machine's PostgreSQL binaries or those of
the optional ``pgserver`` package (see :func:`pgeventstore.cluster.find_bindir`).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import urllib.parse
from pathlib import Path

import psycopg
from psycopg import sql

from pgeventstore.cluster import Cluster, free_port

#: The database the demo and ``dev-server url`` use inside the cluster.
DATABASE = "pgeventstore"


def default_home() -> Path:
    """Where the development cluster lives (see the module's docstring)."""
    configured = os.environ.get("PGEVENTSTORE_DEV_HOME")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/lib/pgeventstore/dev-cluster")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "pgeventstore" / "dev-cluster"


def port_is_free(port: int) -> bool:
    """Whether no program listens on 127.0.0.1:``port``.

    SO_REUSEADDR, as PostgreSQL's own listening socket has it: connections of a server
    that just stopped linger on the port (TIME_WAIT) without keeping it from listening.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclasses.dataclass(frozen=True)
class Status:
    """Where the development cluster lives, whether it exists, and its URL while it runs."""

    home: Path
    initialized: bool
    url: str | None


@dataclasses.dataclass(frozen=True)
class Started:
    """A running development cluster's URL; ``moved_from``: its former port, if another program took it."""

    url: str
    moved_from: int | None = None


class DevServer:
    """The development cluster in ``home``: data in ``home/data``, its port in ``home/port``."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or default_home()
        self._port_file = self.home / "port"

    def _stored_port(self) -> int | None:
        try:
            port = int(self._port_file.read_text())
        except (OSError, ValueError):
            return None
        return port if 0 < port < 65536 else None

    def _cluster(self, port: int | None = None) -> Cluster:
        return Cluster(self.home / "data", port=port or self._stored_port(), settings={})

    def url(self, dbname: str = DATABASE) -> str | None:
        """The URL of ``dbname`` while the cluster runs, else None.

        It carries no password: ``passfile`` names the file that holds it.
        """
        pid_file = self.home / "data" / "postmaster.pid"
        cluster = self._cluster()
        if not pid_file.exists() or not cluster.running:
            return None
        # postmaster.pid's fourth line is the port the running server listens on.
        port = int(pid_file.read_text().splitlines()[3])
        passfile = urllib.parse.quote(str(cluster.passfile), safe="/")
        return f"postgresql://postgres@127.0.0.1:{port}/{dbname}?passfile={passfile}"

    def status(self) -> Status:
        """Where the cluster is, whether it exists, and its URL if it runs."""
        return Status(self.home, (self.home / "data" / "PG_VERSION").exists(), self.url())

    def start(self) -> Started:
        """Create the cluster if needed, start it if stopped, create its database.

        It listens on the port it had last time, unless another program took that port
        meanwhile. A cluster an older release created (trusting every local login) is
        made private first.
        """
        cluster = self._cluster()
        moved_from = None
        if not cluster.initialized:
            cluster.init()
        elif not cluster.passfile.exists():
            if cluster.running:
                cluster.stop("fast")
            cluster.secure()
        if not cluster.running:
            if not port_is_free(cluster.port):
                moved_from = cluster.port
                cluster = self._cluster(free_port())
            self._port_file.write_text(f"{cluster.port}\n")
            cluster.start()
        url = self.url()
        admin = self.url("postgres")
        assert url is not None and admin is not None
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))
        return Started(url, moved_from)

    def stop(self) -> bool:
        """Stop the cluster; False when it was not running."""
        if self.url() is None:
            return False
        self._cluster().stop("fast")
        return True
