"""Private PostgreSQL clusters started from the machine's server binaries.

The test suite, the demo and ``pgeventstore dev-server`` use a :class:`Cluster`: a data
directory created with ``initdb``, a server started with ``pg_ctl`` on a free loopback
port, trust authentication for the ``postgres`` superuser. PostgreSQL refuses to run as
root, so as root the cluster's files and processes belong to an unprivileged user
(``PGEVENTSTORE_CLUSTER_USER``, else ``postgres``, else ``nobody``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: Settings for throwaway clusters: durability off (a crash loses a test run, not data).
FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class ClusterError(RuntimeError):
    """A cluster could not be created, started or stopped; the message says why."""


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres.

    ``PGEVENTSTORE_PG_BINDIR`` wins; then the newest ``/usr/lib/postgresql/*/bin``
    (Debian's layout); then wherever ``pg_ctl`` is on PATH; then the binaries of the
    optional ``pgserver`` package (``pip install 'pgeventstore[embedded]'``).
    """
    configured = os.environ.get("PGEVENTSTORE_PG_BINDIR")
    if configured:
        return Path(configured)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for candidate in reversed(debian):
        if (candidate / "initdb").exists():
            return candidate
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    embedded = pgserver_bindir()
    if embedded is not None:
        return embedded
    raise ClusterError(
        "no PostgreSQL server binaries found: install them (Debian: apt-get install "
        "postgresql), pip install 'pgeventstore[embedded]', or set PGEVENTSTORE_PG_BINDIR "
        "to the folder holding initdb and pg_ctl"
    )


def pgserver_bindir() -> Path | None:
    """The server binaries shipped inside the optional ``pgserver`` package, if it is installed."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if (bindir / "initdb").exists() else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or None when not root."""
    if os.geteuid() != 0:
        return None
    names = [os.environ.get("PGEVENTSTORE_CLUSTER_USER", ""), "postgres", "nobody"]
    for name in filter(None, names):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ClusterError("running as root and no unprivileged user (postgres, nobody) exists")


class Cluster:
    """A PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port if port is not None else free_port()
        self.settings = dict(FAST_SETTINGS if settings is None else settings)
        self.bindir = find_bindir()
        self._user = _server_user()

    @property
    def log_file(self) -> Path:
        """The server log (``server.log`` beside the data directory)."""
        return self.data_dir.parent / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq DSN for the superuser ``postgres`` on ``dbname``."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._user is not None:
            kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            check=False,
            **kwargs,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                + (f"\nserver log: {self.log_file}" if args[0] == "pg_ctl" else "")
            )
        return result

    @property
    def initialized(self) -> bool:
        """Whether ``data_dir`` holds a cluster already."""
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster's data directory with initdb."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            os.chown(self.data_dir.parent, self._user.pw_uid, self._user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )

    @property
    def running(self) -> bool:
        """Whether a server is running on ``data_dir``."""
        if not self.initialized:
            return False
        try:
            self._run("pg_ctl", "status", "-D", str(self.data_dir))
        except ClusterError:
            return False
        return True

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.data_dir.parent}",
        ]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            " ".join(options),
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart, fast or immediate)."""
        self._run("pg_ctl", "stop", "-w", "-D", str(self.data_dir), "-m", mode)

    def set_xid_epoch(self, epoch: int) -> None:
        """Set the epoch of the stopped cluster's next transaction id (``pg_resetwal -e``).

        The step of the restore procedure in docs/operations.md that puts a cluster's
        64-bit transaction ids ahead of those a restored event log recorded.
        """
        self._run("pg_resetwal", "-e", str(epoch), "-D", str(self.data_dir))

    def standby(self, data_dir: Path, settings: Mapping[str, str] | None = None) -> Cluster:
        """A new streaming standby of this running cluster in ``data_dir``, not started yet.

        ``pg_basebackup -R`` copies the cluster over a replication connection and writes
        ``standby.signal`` and the ``primary_conninfo`` that follows this cluster.
        """
        standby = Cluster(data_dir, settings=self.settings if settings is None else settings)
        standby.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if standby._user is not None:
            os.chown(standby.data_dir.parent, standby._user.pw_uid, standby._user.pw_gid)
        standby._run("pg_basebackup", "-D", str(standby.data_dir), "-R", "-X", "stream", "-d", self.dsn())
        return standby

    def promote(self) -> None:
        """End a standby's recovery and wait until it accepts writes."""
        self._run("pg_ctl", "promote", "-w", "-t", "60", "-D", str(self.data_dir))

    def kill(self) -> None:
        """Kill the postmaster with SIGKILL, as a crash would."""
        pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 9)


@contextlib.contextmanager
def temporary_cluster(settings: Mapping[str, str] | None = None) -> Iterator[Cluster]:
    """A new cluster in a temporary directory, started; stopped and removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="pgeventstore-"))
    try:
        cluster = Cluster(root / "data", settings=settings)
        cluster.init()
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(ClusterError):
                cluster.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)
