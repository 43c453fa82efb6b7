"""Private PostgreSQL clusters started from the machine's server binaries.

The test suite, the demo and ``pgeventstore dev-server`` use a :class:`Cluster`: a data
directory created with ``initdb`` in a home folder, and a server started with ``pg_ctl``
that listens on a loopback port and on a unix socket in that folder. A cluster is private
to the user who created it: the home folder is mode 700, and every login (socket or TCP)
needs the password of the superuser ``postgres`` (SCRAM), generated at creation and kept in
``passfile`` in the home folder (mode 600, libpq's passfile format), which
:meth:`Cluster.dsn` names. PostgreSQL refuses to run as root, so as root the cluster's
files and processes belong to an unprivileged user (``PGEVENTSTORE_CLUSTER_USER``, else
``postgres``, else ``nobody``). That user must be able to enter the home folder; server
binaries it cannot reach (say, in a virtualenv under root's mode-700 home) are copied into
the home folder first.
"""

from __future__ import annotations

import contextlib
import grp
import importlib.util
import os
import pwd
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from psycopg.conninfo import make_conninfo

#: Settings for throwaway clusters: durability off (a crash loses a test run, not data).
FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}

#: pg_hba.conf of every cluster: password (SCRAM) logins only, on the socket and on loopback.
HBA_CONF = """\
# Written by pgeventstore: every login needs the password of the superuser postgres, which
# is in the passfile beside this data directory (readable by its creator only).
local   all          all                  scram-sha-256
host    all          all   127.0.0.1/32   scram-sha-256
local   replication  all                  scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
"""


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


def blocking_folder(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first folder on the way to ``path`` (or ``path``) that ``user`` may not enter.

    Judged by the permission bits (execute, for ``path`` a file); None when ``user`` gets
    through to ``path`` or to where the way ends (a folder not created yet).
    """
    groups = {user.pw_gid} | {group.gr_gid for group in grp.getgrall() if user.pw_name in group.gr_mem}
    target = path.resolve()
    for step in [*reversed(target.parents), target]:
        try:
            info = step.stat()
        except FileNotFoundError:
            return None
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return step
    return None


class Cluster:
    """A PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``.

    Its home folder is ``data_dir``'s parent: the server log, the unix socket, the
    passfile and (when needed) a copy of the binaries live there.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.home = self.data_dir.parent
        self.port = port if port is not None else free_port()
        self.settings = dict(FAST_SETTINGS if settings is None else settings)
        self.bindir = find_bindir()
        self._user = _server_user()

    @property
    def log_file(self) -> Path:
        """The server log (``server.log`` in the home folder)."""
        return self.home / "server.log"

    @property
    def passfile(self) -> Path:
        """The superuser's password in libpq's passfile format; its existence marks a private cluster."""
        return self.home / "passfile"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq DSN for the superuser ``postgres`` on ``dbname`` (its password from :attr:`passfile`)."""
        return make_conninfo(
            host="127.0.0.1", port=str(self.port), user="postgres", dbname=dbname, passfile=str(self.passfile)
        )

    def dsn_for_server_of(self, other: Cluster, dbname: str = "postgres") -> str:
        """A DSN for ``dbname`` here that the server processes of ``other`` can use.

        For a standby's WAL receiver or a logical subscription: they run as the server
        user, who cannot read this cluster's passfile, so ``other`` keeps a copy of the
        password of its own, readable by that user only.
        """
        passfile = other.home / f"upstream-{self.port}.passfile"
        other._write(passfile, self.passfile.read_text(encoding="utf-8"), server=True)
        return make_conninfo(self.dsn(dbname), passfile=str(passfile))

    def _server_bindir(self) -> Path:
        """Where the server user runs the binaries from: :attr:`bindir`, or a copy it can reach."""
        if self._user is None or blocking_folder(self.bindir / "initdb", self._user) is None:
            return self.bindir
        binaries = self.bindir.resolve()
        install = binaries.parent
        package = install.parent
        # The copy keeps the layout the binaries' RPATH expects: a wheel's (pgserver's) own
        # shared libraries are in <package>.libs beside the package ($ORIGIN/../../../pgserver.libs).
        libs = package.parent / f"{package.name}.libs"
        copy = self.home / "pginstall"
        stamp = copy / "copied-from"
        if not (stamp.exists() and stamp.read_text(encoding="utf-8") == str(install)):
            shutil.rmtree(copy, ignore_errors=True)
            target = copy / package.name / install.name
            shutil.copytree(install, target, symlinks=True, ignore=shutil.ignore_patterns("include"))
            if libs.is_dir():
                shutil.copytree(libs, copy / libs.name, symlinks=True)
            stamp.write_text(str(install), encoding="utf-8")
        return copy / package.name / install.name / binaries.name

    def _run(self, *args: str, stdin: str | None = None, secret: str | None = None) -> str:
        """Run a server program as the server user; its output, or a ClusterError saying why it failed.

        ``secret`` is blanked out of the message of a failure.
        """
        kwargs: dict[str, Any] = {}
        if self._user is not None:
            kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        result = subprocess.run(
            [str(self._server_bindir() / args[0]), *args[1:]],
            cwd=self.home,
            input=stdin,
            # Never the caller's terminal or pipe: a program that wants a password fails.
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            **kwargs,
        )
        if result.returncode != 0:
            output = result.stderr.strip() or result.stdout.strip()
            if secret:
                output = output.replace(secret, "***")
            raise ClusterError(
                f"{args[0]} failed ({result.returncode}): {output}"
                + (f"\nserver log: {self.log_file}" if args[0] == "pg_ctl" else "")
            )
        return str(result.stdout)

    @property
    def initialized(self) -> bool:
        """Whether ``data_dir`` holds a cluster already."""
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the home folder (mode 700) and in it a private cluster (see :meth:`secure`).

        On failure it removes what it created, and raises a ClusterError saying why; as
        root, first of all when the server user cannot enter the home folder.
        """
        if self._user is not None:
            # The home folder itself is handed over to that user below.
            blocked = blocking_folder(self.home.parent, self._user)
            if blocked is not None:
                raise ClusterError(
                    f"the cluster's server runs as the user {self._user.pw_name}, who may not enter "
                    f"{blocked}: put the cluster in a folder that user can reach (not under {blocked})"
                )
        if self.home.exists() and self.home.stat().st_mode & stat.S_IWOTH:
            raise ClusterError(
                f"{self.home} is writable by every user: put the cluster in a folder of its own"
            )
        # What to remove on failure: the first folder this call creates, or else the files.
        created = next((p for p in [*reversed(self.home.parents), self.home] if not p.exists()), None)
        files = (self.data_dir, self.passfile, self.home / "pginstall")
        made = [created] if created else [p for p in files if not p.exists()]
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            if created:
                self.home.chmod(0o700)
            if self._user is not None:
                os.chown(self.home, self._user.pw_uid, self._user.pw_gid)
            # Trust lasts only until secure() below, and no server runs meanwhile.
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
            self.secure()
        except BaseException:
            for path in made:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            raise

    def secure(self) -> None:
        """Make the stopped cluster private.

        A new generated password for ``postgres``, kept in :attr:`passfile`, and password
        (SCRAM) logins only (:data:`HBA_CONF`).
        """
        secret = secrets.token_urlsafe(32)
        self._run(
            "postgres",
            "--single",
            "-D",
            str(self.data_dir),
            "-c",
            "exit_on_error=on",
            "postgres",
            stdin=f"alter role postgres password '{secret}';\n",
            secret=secret,
        )
        self._write(self.data_dir / "pg_hba.conf", HBA_CONF, server=True)
        self._write(self.passfile, f"*:*:*:postgres:{secret}\n", server=False)

    def _write(self, path: Path, text: str, *, server: bool) -> None:
        """Replace ``path`` with ``text``, mode 600, owned by the server user or by the caller."""
        scratch = path.with_name(path.name + ".new")
        scratch.unlink(missing_ok=True)
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        if server and self._user is not None:
            os.chown(scratch, self._user.pw_uid, self._user.pw_gid)
        scratch.replace(path)

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
            f"-c unix_socket_directories={shlex.quote(str(self.home))}",
            "-c unix_socket_permissions=0700",
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
        # The copy has this cluster's password: the standby's clients read it from its own
        # passfile, pg_basebackup and its WAL receiver from the server user's copy.
        standby._write(standby.passfile, self.passfile.read_text(encoding="utf-8"), server=False)
        source = self.dsn_for_server_of(standby)
        standby._run(
            "pg_basebackup",
            "-D",
            str(standby.data_dir),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-w",
            "-d",
            source,
        )
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
    """A new private cluster in a temporary directory, started; stopped and removed on exit."""
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
