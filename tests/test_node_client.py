"""The SQL API from a second language: the Node.js client of ``examples/node``.

``npm ci`` installs its pinned ``pg`` from the npm registry; ``node demo.js`` then runs
against a store on the suite's cluster. It must append with expected versions, lose a
race with ES409 and recover from the error's DETAIL, get ES400 as its own error, read the
stream back, follow the global log from a cursor, in pages, resume from the cursor it
returned, and get ES419 for a cursor the log diverged from. Its output is checked against
what the database itself says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

NODE_DIR = Path(__file__).resolve().parent.parent / "examples" / "node"

LIBPQ_VARIABLES = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "dbname": "PGDATABASE",
    "password": "PGPASSWORD",
}


def program(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} not found: scripts/bootstrap.sh installs it"
    return found


@pytest.fixture(scope="module")
def installed_packages() -> Path:
    """examples/node/node_modules, exactly as package-lock.json pins it."""
    result = subprocess.run(
        [program("npm"), "ci", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return NODE_DIR / "node_modules"


def run_demo(dsn: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DATABASE_URL"}
    params = conninfo_to_dict(dsn)
    for key, value in params.items():
        if key in LIBPQ_VARIABLES and value is not None:
            env[LIBPQ_VARIABLES[key]] = str(value)
    if "passfile" in params and "password" not in params:
        # A private throwaway cluster's password is the last field of its passfile's line.
        env["PGPASSWORD"] = Path(str(params["passfile"])).read_text().strip().split(":")[-1]
    result = subprocess.run(
        [program("node"), "demo.js"],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_the_node_client_appends_recovers_from_a_conflict_reads_and_follows(installed_packages, dsn) -> None:
    assert (installed_packages / "pg" / "package.json").is_file()
    lines = run_demo(dsn)

    opened = re.fullmatch(r"opened (account-[0-9a-f]{8}): stream version 1", lines[0])
    assert opened, lines[0]
    account = opened.group(1)
    audit = account.replace("account-", "audit-")
    assert lines[1:8] == [
        "both tellers loaded version 1: balance 100",
        "teller-a: withdrew 70 at expected version 1: stream version 2",
        f"teller-b: conflict ES409 on {account}: expected version 1, actual version 2",
        "teller-b: read 1 missed event(s): balance 30",
        "teller-b: withdrew 20 at expected version 2: stream version 3",
        "teller-b: refused to withdraw 50: balance 10",
        "invalid argument ES400: max_count must be between 1 and 100000, got 0",
    ]
    assert lines[8:12] == [
        f'read {account} v0 Opened {{"owner":"Ada"}}',
        f'read {account} v1 Deposited {{"amount":100}}',
        f'read {account} v2 Withdrawn {{"amount":70,"teller":"teller-a"}}',
        f'read {account} v3 Withdrawn {{"amount":20,"teller":"teller-b"}}',
    ]

    with psycopg.connect(dsn) as conn:
        stream = conn.execute(
            "select version, event_type, data from eventstore.read_stream(%s)", (account,)
        ).fetchall()
        log = conn.execute(
            "select log_number, stream_id, version, event_type, event_id"
            " from eventstore.read_all(after => 0, max_count => 1000)"
        ).fetchall()
    assert stream == [
        (0, "Opened", {"owner": "Ada"}),
        (1, "Deposited", {"amount": 100}),
        (2, "Withdrawn", {"amount": 70, "teller": "teller-a"}),
        (3, "Withdrawn", {"amount": 20, "teller": "teller-b"}),
    ]
    assert [(stream_id, version) for _, stream_id, version, _, _ in log] == [
        *((account, version) for version in range(4)),
        (audit, 0),
    ]
    followed = [
        f"log {number} {stream_id} v{version} {event_type}"
        for number, stream_id, version, event_type, _ in log
    ]
    # The first follow reads the account's four events in pages of two and stops at the
    # empty page; the second resumes from the cursor it returned and gets only the audit.
    # Then a cursor naming another event at the last number is refused.
    assert lines[12:] == [
        *followed[:4],
        f"caught up at log number {log[3][0]}",
        followed[4],
        f"caught up at log number {log[4][0]}",
        f"log diverged ES419 at log number {log[4][0]}: it holds {log[4][4]}",
    ]
