"""The command line: every command through click's runner, exit codes through a real process."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql

from pgeventstore import EventStore, NewEvent, RecordedEvent
from pgeventstore.cli import main
from pgeventstore.subscription import Projection


def cli(dsn: str, *args: str, stdin: str | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(main, ["--dsn", dsn, *args], input=stdin, catch_exceptions=False)


def process(dsn: str | None, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGEVENTSTORE_DSN", "DATABASE_URL")}
    if dsn is not None:
        env["PGEVENTSTORE_DSN"] = dsn
    return subprocess.run(
        [sys.executable, "-m", "pgeventstore", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_append_and_read(dsn: str) -> None:
    result = cli(dsn, "append", "order-1", "Placed", '{"total": 12.30}', "--metadata", '{"by": "me"}')
    assert result.exit_code == 0, result.output
    assert "now at version 0" in result.output
    assert cli(dsn, "append", "order-1", "Paid", "{}", "-e", "0").exit_code == 0
    table = cli(dsn, "read", "order-1")
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split() == ["VERSION", "POSITION", "TYPE", "RECORDED", "DATA"]
    assert lines[1].split()[:3] == ["0", "1", "Placed"] and lines[1].endswith('{"total": 12.30}')
    lines = cli(dsn, "read", "order-1", "--json").output.splitlines()
    first = json.loads(lines[0])
    assert (first["type"], first["data"], first["metadata"], first["version"]) == (
        "Placed",
        {"total": 12.3},
        {"by": "me"},
        0,
    )
    assert '"total": 12.30' in lines[0]
    backward = cli(dsn, "read", "order-1", "--json", "--backward", "--limit", "1").output.splitlines()
    assert [json.loads(line)["version"] for line in backward] == [1]
    from_one = cli(dsn, "read", "order-1", "--json", "--from", "1").output.splitlines()
    assert [json.loads(line)["type"] for line in from_one] == ["Paid"]


def test_append_data_from_stdin_and_with_id(dsn: str) -> None:
    event_id = str(uuid.uuid4())
    result = cli(dsn, "append", "s-1", "T", "--id", event_id, "-e", "no-stream", stdin='{"piped": true}')
    assert result.exit_code == 0, result.output
    with EventStore(dsn) as store:
        (event,) = store.read_stream("s-1")
    assert (str(event.id), event.data) == (event_id, {"piped": True})


def test_append_batch_from_file_is_one_transaction(dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"type": "T", "data": {"i": i}}) + "\n" for i in range(2500)))
    result = cli(dsn, "append", "batch-1", "--file", str(path), "-e", "no-stream")
    assert result.exit_code == 0, result.output
    assert "appended 2500 event(s)" in result.output
    with EventStore(dsn) as store:
        assert [e.data["i"] for e in store.iter_stream("batch-1")] == list(range(2500))
    # The third chunk is invalid: the two before it must not stay written.
    bad = tmp_path / "bad.jsonl"
    lines = [json.dumps({"type": "T", "data": {}})] * 2100 + [json.dumps({"type": "", "data": {}})]
    bad.write_text("\n".join(lines))
    result = cli(dsn, "append", "batch-2", "--file", str(bad))
    assert result.exit_code == 6, result.output
    with EventStore(dsn) as store:
        assert store.stream_version("batch-2") == -1


def test_usage_errors(dsn: str, tmp_path: Path) -> None:
    cases = [
        ["append", "s-1", "T", "{not json"],
        ["append", "s-1", "T", "{}", "-e", "soon"],
        ["append", "s-1", "T", "{}", "--metadata", "[1"],
        ["append", "s-1"],
        ["append", "s-1", "T", "{}", "--file", "-"],
        ["read"],
        ["read", "s-1", "--limit", "0"],
        ["streams", "--nope"],
    ]
    for args in cases:
        result = cli(dsn, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("pgeventstore: "), result.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert cli(dsn, "append", "s-1", "--file", str(empty)).exit_code == 2


def test_streams_stats_and_snapshot(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Placed", {}), NewEvent("Paid", {})])
        store.append("user-1", [NewEvent("Registered", {})])
        store.save_snapshot("order-1", 1, {"paid": True})
    listing = cli(dsn, "streams").output.splitlines()
    assert listing[0].split() == ["STREAM", "VERSION", "CREATED", "UPDATED"]
    assert sorted(line.split()[0] for line in listing[1:]) == ["order-1", "user-1"]
    only = [
        json.loads(line) for line in cli(dsn, "streams", "--category", "order", "--json").output.splitlines()
    ]
    assert [(s["stream_id"], s["version"]) for s in only] == [("order-1", 1)]
    assert len(cli(dsn, "streams", "--limit", "1", "--json").output.splitlines()) == 1
    stats = cli(dsn, "stats").output
    assert stats.startswith("2 streams, 3 events, 1 snapshots")
    assert "order     1        2       1" in stats
    snap = cli(dsn, "snapshot", "order-1")
    assert snap.exit_code == 0
    assert snap.output.splitlines() == [snap.output.splitlines()[0], '{"paid": true}']
    assert snap.output.startswith("order-1 at version 1, schema version 1")
    assert cli(dsn, "snapshot", "user-1").exit_code == 4


def test_export_import_round_trip(dsn: str, empty_dsn: str, tmp_path: Path) -> None:
    with EventStore(dsn) as store:
        store.append(
            "order-1", [NewEvent("Placed", {"total": 1}, {"by": "me"}), NewEvent("Paid", {"n": 0.1})]
        )
        store.append("user-1", [NewEvent("Registered", {"name": "Ann"})])
        store.append("long-1", [NewEvent("Tick", {"i": i}) for i in range(2345)])
        store.append("order-1", [NewEvent("Shipped", {"exact": 12345678901234567890.5})])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "select eventstore.append_to_stream('num-1', -1, "
            """'[{"type": "T", "data": {"n": 1.10, "big": 123456789012345678901234567890.123}}]')"""
        )
    # An older transaction appends after a newer one: the log order is not the order of
    # the streams, nor of the global positions.
    with psycopg.connect(dsn) as older, EventStore(dsn) as store:
        older.execute("select pg_current_xact_id()")
        store.append("user-2", [NewEvent("Registered", {"name": "Bo"})])
        older.execute("select eventstore.append_event('order-1', 2, 'Delivered', '{}')")
        older.commit()
    exported = cli(dsn, "export", "--output", str(tmp_path / "dump.jsonl"))
    assert exported.exit_code == 0, exported.output
    dump = tmp_path / "dump.jsonl"
    assert len(dump.read_text().splitlines()) == 3 + 1 + 2345 + 1 + 2
    assert [json.loads(line)["log_number"] for line in dump.read_text().splitlines()] == list(range(1, 2353))
    assert cli(empty_dsn, "migrate").exit_code == 0
    imported = cli(empty_dsn, "import", str(dump))
    assert imported.exit_code == 0, imported.output
    assert "imported 2352 event(s) into 5 stream(s)" in imported.output

    def log(target: str) -> list[tuple[object, ...]]:
        with psycopg.connect(target, autocommit=True) as conn:
            return conn.execute(
                "select stream_id, version, event_type, data::text, metadata::text, event_id "
                "from eventstore.read_all(0, 100000)"
            ).fetchall()

    assert log(empty_dsn) == log(dsn), "the target's log is the source's, in its order"
    assert rebuilt_projection(empty_dsn) == rebuilt_projection(dsn)

    def streams(target: str) -> dict[str, list[tuple[object, ...]]]:
        with psycopg.connect(target) as conn:
            rows = conn.execute(
                "select stream_id, version, event_id, event_type, data::text, metadata::text "
                "from eventstore.events order by stream_id, version"
            ).fetchall()
        result: dict[str, list[tuple[object, ...]]] = {}
        for row in rows:
            result.setdefault(row[0], []).append(row[1:])
        return result

    assert streams(empty_dsn) == streams(dsn)
    again = cli(empty_dsn, "import", str(dump))
    assert again.exit_code == 0, again.output
    assert "imported 0 event(s) into 5 stream(s), 2352 already present" in again.output
    assert streams(empty_dsn) == streams(dsn)
    assert log(empty_dsn) == log(dsn)
    piped = cli(dsn, "export").output
    assert piped == dump.read_text()
    assert cli(empty_dsn, "import", stdin=piped).exit_code == 0
    assert streams(empty_dsn) == streams(dsn)


def rebuilt_projection(target: str) -> list[tuple[object, ...]]:
    """A read model built by a Projection from the whole log: one row per event, in log order."""
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("create table seen (n bigserial primary key, stream_id text, version bigint, type text)")

    def apply(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
        conn.execute(
            "insert into seen (stream_id, version, type) values (%s, %s, %s)",
            (event.stream_id, event.version, event.type),
        )

    with EventStore(target) as store:
        Projection(store, "seen", apply).catch_up()
    with psycopg.connect(target, autocommit=True) as conn:
        return conn.execute("select stream_id, version, type from seen order by n").fetchall()


def test_import_conflicts_and_bad_lines(dsn: str, tmp_path: Path) -> None:
    with EventStore(dsn) as store:
        store.append("s-1", [NewEvent("Other", {})])
    line = {"stream_id": "s-1", "version": 0, "id": str(uuid.uuid4()), "type": "T", "data": {}}
    assert cli(dsn, "import", stdin=json.dumps(line)).exit_code == 3
    del line["version"]
    assert cli(dsn, "import", stdin=json.dumps(line)).exit_code == 6


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["append", "s-1", "T", "{}", "-e", "5"], 3, "actual -1"),
        (["read", "absent"], 4, "has no events"),
        (["append", "s-1", "T", "{}", "--id", "00000000-0000-0000-0000-000000000001"], 5, "already stored"),
        (["read", "s-\x01"], 6, "stream id"),
        (["append", "s-1", "T", "{oops"], 2, "not valid JSON"),
        (["frobnicate"], 2, "No such command"),
    ],
)
def test_exit_codes_of_a_real_process(dsn: str, args: list[str], code: int, needle: str) -> None:
    with EventStore(dsn) as store:
        store.append("dup-1", [NewEvent("T", {}, id=uuid.UUID(int=1))])
    result = process(dsn, *args)
    assert result.returncode == code, result.stderr
    assert needle in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_cluster_restored_from_pg_dump_appends_at_once(empty_dsn: str) -> None:
    """What a pg_dump restore into a younger cluster leaves (an event whose transaction id
    is ahead of every transaction this cluster has run) no longer stops appends."""
    assert cli(empty_dsn, "migrate").exit_code == 0
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(
            "insert into eventstore.events (stream_id, version, event_id, event_type, data, transaction_id)"
            " values ('order-1', 0, gen_random_uuid(), 'Placed', '{}', '99999999999')"
        )
    result = process(empty_dsn, "append", "order-2", "Placed", "{}")
    assert result.returncode == 0, result.stderr
    tail = process(empty_dsn, "tail", "--no-follow")
    assert [line.split("\t")[:2] for line in tail.stdout.splitlines()] == [
        ["1", "order-1@0"],
        ["2", "order-2@0"],
    ]


def test_a_database_that_takes_no_writes_exits_12(dsn: str) -> None:
    """25006, here from a read-only transaction, is ReadOnlyStore: its own exit code, one line."""
    read_only = f"{dsn} options='-c default_transaction_read_only=on'"
    result = one_line(process(read_only, "append", "order-1", "Placed", "{}"), 12)
    assert "read-only transaction" in result and "Hint: Write on the primary" in result
    assert event_count(dsn) == 0


def test_cannot_connect_and_no_dsn() -> None:
    down = process("host=127.0.0.1 port=1 connect_timeout=2", "streams")
    assert down.returncode == 7
    assert down.stderr.startswith("pgeventstore: cannot connect") and len(down.stderr.splitlines()) == 1
    missing = process(None, "streams")
    assert missing.returncode == 2
    assert "PGEVENTSTORE_DSN" in missing.stderr


def test_store_not_installed(empty_dsn: str) -> None:
    result = process(empty_dsn, "streams")
    assert result.returncode == 10
    assert "pgeventstore migrate" in result.stderr and len(result.stderr.splitlines()) == 1


def test_piped_output_has_no_progress_bar(dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"type": "T", "data": {}}) + "\n")
    result = process(dsn, "append", "s-1", "--file", str(path))
    assert result.returncode == 0 and result.stderr == ""
    result = process(dsn, "export")
    assert result.returncode == 0 and result.stderr == ""


def test_every_option_names_its_env_var() -> None:
    commands: list[tuple[list[str], click.Command]] = [([], main)]
    commands += [([name], command) for name, command in main.commands.items()]
    with_env = 0
    for args, command in commands:
        help_text = CliRunner().invoke(main, [*args, "--help"]).output
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                with_env += 1
                names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
                assert all(name in help_text for name in names), (args, param.name)
    assert with_env >= 1


def on_terminal(dsn: str, *args: str) -> tuple[int, bytes, bytes]:
    """Run the command with stderr on a pseudo-terminal: exit code, stdout, what the terminal showed."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "PGEVENTSTORE_DSN": dsn}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pgeventstore", *args],
            stdout=subprocess.PIPE,
            stderr=terminal,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
            timeout=60,
        )
        os.close(terminal)
        shown = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(controller, 4096):
                shown += chunk
    finally:
        os.close(controller)
    return result.returncode, result.stdout, shown


def test_terminal_gets_a_progress_bar(dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"type": "T", "data": {"i": i}}) + "\n" for i in range(2500)))
    code, _, shown = on_terminal(dsn, "append", "s-1", "--file", str(path))
    assert code == 0
    assert b"appending to s-1" in shown and b"100%" in shown


def test_export_and_import_show_a_progress_bar_on_a_terminal(
    dsn: str, empty_dsn: str, tmp_path: Path
) -> None:
    with EventStore(dsn) as store:
        for n in range(5):
            store.append(f"order-{n}", [NewEvent("Placed", {"n": n}), NewEvent("Paid", {})])
    dump = tmp_path / "dump.jsonl"
    code, stdout, shown = on_terminal(dsn, "export", "--output", str(dump))
    assert code == 0 and stdout == b""
    assert b"exporting" in shown and b"100%" in shown
    assert b"exported 10 event(s)" in shown
    assert len(dump.read_text().splitlines()) == 10
    assert cli(empty_dsn, "migrate").exit_code == 0
    code, stdout, shown = on_terminal(empty_dsn, "import", str(dump))
    assert code == 0, shown
    assert b"importing" in shown and b"100%" in shown
    assert stdout == b"imported 10 event(s) into 5 stream(s)\n"


def environment_process(variables: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command with exactly these DSN variables set (and no --dsn)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGEVENTSTORE_DSN", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "pgeventstore", *args],
        input="",
        capture_output=True,
        text=True,
        env={**env, **variables},
        check=False,
        timeout=60,
    )


UNREACHABLE = "host=127.0.0.1 port=1 connect_timeout=2"


def test_dsn_falls_back_to_database_url(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Placed", {})])
    only_url = environment_process({"DATABASE_URL": dsn}, "streams", "--json")
    assert only_url.returncode == 0, only_url.stderr
    assert [json.loads(line)["stream_id"] for line in only_url.stdout.splitlines()] == ["order-1"]
    assert environment_process({"DATABASE_URL": UNREACHABLE}, "streams").returncode == 7


def test_pgeventstore_dsn_wins_over_database_url(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Placed", {})])
    good_first = environment_process({"PGEVENTSTORE_DSN": dsn, "DATABASE_URL": UNREACHABLE}, "streams")
    assert good_first.returncode == 0, good_first.stderr
    assert "order-1" in good_first.stdout
    bad_first = environment_process({"PGEVENTSTORE_DSN": UNREACHABLE, "DATABASE_URL": dsn}, "streams")
    assert bad_first.returncode == 7, bad_first.stderr
    flag = environment_process(
        {"PGEVENTSTORE_DSN": UNREACHABLE, "DATABASE_URL": UNREACHABLE}, "--dsn", dsn, "streams"
    )
    assert flag.returncode == 0, flag.stderr


def event_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select count(*) from eventstore.events").fetchone()
    assert row is not None
    return int(row[0])


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The one stderr line of a failed process, after checking its exit code."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("pgeventstore: "), result.stderr
    assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("bad_line", "needle"),
    [
        ({"type": "T", "dta": {"i": 1}}, "unknown key dta"),
        ({"type": "T", "data": {}, "metdata": {}}, "unknown key metdata"),
        ({"type": "T", "data": {}, "Metadata": {}}, "unknown key Metadata"),
        ({"type": "T"}, 'needs "data"'),
        ({"data": {}}, 'needs "type"'),
        (["T", {}], "is not a JSON object"),
    ],
)
def test_append_file_refuses_what_the_sql_api_refuses_naming_the_line(
    dsn: str, tmp_path: Path, bad_line: object, needle: str
) -> None:
    path = tmp_path / "events.jsonl"
    good = [json.dumps({"type": "T", "data": {"i": i}}) for i in range(2500)]
    # Line 2502 (a blank line 2001 is skipped but counted): the third call's second event.
    path.write_text("\n".join([*good[:2000], "", *good[2000:], json.dumps(bad_line)]) + "\n")
    line = one_line(process(dsn, "append", "batch-1", "--file", str(path)), 6)
    assert f"{path} line 2502: the event " in line and needle in line, line
    assert event_count(dsn) == 0


def test_import_refuses_a_misspelled_key_and_writes_nothing(dsn: str, empty_dsn: str, tmp_path: Path) -> None:
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Placed", {"n": 1}), NewEvent("Paid", {})])
        store.append("user-1", [NewEvent("Registered", {})])
    dump = tmp_path / "dump.jsonl"
    assert cli(dsn, "export", "--output", str(dump)).exit_code == 0
    lines = dump.read_text().splitlines()
    last = json.loads(lines[-1])
    last["dta"] = last.pop("data")
    dump.write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")
    assert cli(empty_dsn, "migrate").exit_code == 0
    line = one_line(process(empty_dsn, "import", str(dump)), 6)
    assert f"{dump} line 3: the event has an unknown key dta" in line
    # One transaction: the streams before the bad line are not written either.
    assert event_count(empty_dsn) == 0
    # Without data at all.
    del last["dta"]
    dump.write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")
    assert 'line 3: the event needs "data"' in one_line(process(empty_dsn, "import", str(dump)), 6)
    assert event_count(empty_dsn) == 0


def test_import_keeps_versions_or_refuses(dsn: str) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    lines = [
        {"stream_id": "s-1", "version": 0, "id": ids[0], "type": "T", "data": {}},
        # A gap: version 1 is missing, so the event cannot keep its version 2.
        {"stream_id": "s-1", "version": 2, "id": ids[1], "type": "T", "data": {}},
    ]
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    assert "stdin line 2: wrong expected version" in one_line(process(dsn, "import", stdin=stdin), 3)
    assert event_count(dsn) == 0
    lines[1]["version"] = True
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    assert "stdin line 2: an imported event needs" in one_line(process(dsn, "import", stdin=stdin), 6)
    # A first line that does not follow the stream's current version (-1: none).
    lines[1]["version"] = 1
    stdin = "".join(json.dumps(line) + "\n" for line in lines[1:])
    assert "stdin line 1: wrong expected version" in one_line(process(dsn, "import", stdin=stdin), 3)
    # A file that continues what the store holds imports the rest, counting the first part.
    with EventStore(dsn) as store:
        store.append("s-1", [NewEvent("T", {}, id=uuid.UUID(ids[0]))])
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    result = process(dsn, "import", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert "imported 1 event(s) into 1 stream(s), 1 already present" in result.stdout
    assert event_count(dsn) == 2


BAD_INPUTS = [
    # (arguments, stdin, exit code, what the line says)
    (["append", "s-1", "T", "NaN"], "", 2, "NaN is not JSON"),
    (["append", "s-1", "T", '{"n": Infinity}'], "", 2, "Infinity is not JSON"),
    (["append", "s-1", "T", "1e999999"], "", 6, "value overflows numeric format"),
    (["append", "s-1", "T", "1e99999999999999999999"], "", 2, "too large to read"),
    (["append", "s-1", "T"], "[" * 50_000 + "]" * 50_000, 2, "nests JSON too deeply"),
    (["append", "s-1", "T", '"\\ud800"'], "", 2, "half a surrogate pair"),
    (["append", "s-1", "T", '{"a": "x\\u0000y"}'], "", 6, "unsupported Unicode escape sequence"),
    (["append", "s-1", "T", "{}", "--metadata", '{"a": "\\udfff"}'], "", 2, "--metadata holds"),
    (["append", "s-1", "T", "{}", "-e", "99999999999999999999"], "", 2, "is not between"),
    (["append", "s-1", "T", "{}", "-e", "²"], "", 2, "digits 0-9"),
    (["append", "s-1", "T", "{}", "-e", "٣"], "", 2, "digits 0-9"),
    (["append", "s-1", "T", "{}", "-e", "-3"], "", 6, "expected version must be"),
    (["read", "s-1", "--from", "9223372036854775808"], "", 2, "is not between"),
    (["read", "s-1", "--limit", "٣"], "", 2, "digits 0-9"),
    (["tail", "--no-follow", "--from", "99999999999999999999"], "", 2, "is not between"),
    (
        ["append", "s-1", "--file", "-"],
        '{"type": "T", "data": 1}\n{"type": "T", "data": 1e999999}\n',
        6,
        "stdin line 2: value overflows numeric format",
    ),
    (
        ["append", "s-1", "--file", "-"],
        '{"type": "T", "data": "\\u0000"}\n',
        6,
        "stdin line 1: unsupported Unicode escape sequence",
    ),
    (["append", "s-1", "--file", "-"], '{"type": "T", "data": "\\udc00"}\n', 2, "stdin line 1 holds"),
    (["append", "s-1", "--file", "-"], '{"type": "T", "data": NaN}\n', 2, "stdin line 1 is not valid JSON"),
    (
        ["import"],
        '{"stream_id": "s-1", "version": 99999999999999999999, "id": "00000000-0000-0000-0000-00000000000a",'
        ' "type": "T", "data": 1}\n',
        6,
        "stdin line 1: version 99999999999999999999 is not between",
    ),
    (["read", "s-1", "--dsn", "host=127.0.0.1 port"], "", 2, "not a libpq connection string"),
    (["read", "s-1", "--dsn", "postgresql://u@[::1:5432/db"], "", 2, "not a libpq connection string"),
]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "needle"), BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))]
)
def test_bad_input_exits_2_or_6_with_one_line(
    dsn: str, args: list[str], stdin: str, code: int, needle: str
) -> None:
    line = one_line(process(dsn, *args, stdin=stdin), code)
    assert needle in line, line
    assert event_count(dsn) == 0


def test_bytes_that_are_not_utf8_exit_2(dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type": "T", "data": 1}\n{"type": "T", "data": "caf\xe9"}\n')
    assert "line 2 is not UTF-8 text" in one_line(process(dsn, "append", "s-1", "--file", str(path)), 2)
    env = {**os.environ, "PGEVENTSTORE_DSN": dsn}
    for argv, stdin in (
        ([b"append", b"s-\xff", b"T", b"{}"], b""),
        ([b"append", b"s-1", b"T", b'"\xc3\x28"'], b""),
        ([b"append", b"s-1", b"T"], b'{"a": "\xff"}'),
        ([b"import"], b'{"stream_id": "s-1", "version": 0, "id": "x", "type": "T", "data": "\xfe"}\n'),
    ):
        result = subprocess.run(
            [sys.executable.encode(), b"-m", b"pgeventstore", *argv],
            input=stdin,
            capture_output=True,
            env=env,
            check=False,
            timeout=60,
        )
        stderr = result.stderr.decode()
        assert result.returncode == 2, (argv, stderr)
        assert len(stderr.splitlines()) == 1 and "UTF-8" in stderr, stderr
    assert event_count(dsn) == 0


@pytest.fixture
def login_role(dsn: str) -> Iterator[tuple[str, str]]:
    """A login role with a password and no store role, and a DSN connecting as it."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login password 'secret'").format(sql.Identifier(name)))
    yield name, psycopg.conninfo.make_conninfo(dsn, user=name, password="secret")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def test_a_missing_privilege_names_the_role_to_grant(dsn: str, login_role: tuple[str, str]) -> None:
    name, as_app = login_role
    line = one_line(process(as_app, "read", "s-1"), 9)
    assert "permission denied for schema eventstore" in line and f"grant eventstore_reader to {name}" in line
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("grant eventstore_reader to {}").format(sql.Identifier(name)))
    assert process(as_app, "read", "s-1").returncode == 4
    line = one_line(process(as_app, "append", "s-1", "T", "{}"), 9)
    assert "permission denied for function append_to_stream" in line
    assert f"grant eventstore_writer to {name}" in line
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("grant eventstore_writer to {}").format(sql.Identifier(name)))
    assert process(as_app, "append", "s-1", "T", "{}").returncode == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("revoke eventstore_writer, eventstore_reader from {}").format(sql.Identifier(name))
        )


def test_expected_versions_minus_one_and_minus_two(dsn: str) -> None:
    assert cli(dsn, "append", "s-1", "T", "{}", "-e", "-2").exit_code == 3
    assert cli(dsn, "append", "s-1", "T", "{}", "-e", "-1").exit_code == 0
    assert cli(dsn, "append", "s-1", "T", "{}", "-e", "-1").exit_code == 3
    assert cli(dsn, "append", "s-1", "T", "{}", "--expected-version=-2").exit_code == 0
    assert cli(dsn, "append", "s-1", "T", "{}", "-e", "stream-exists").exit_code == 0
    assert cli(dsn, "append", "s-2", "T", "{}", "-e", "NO-STREAM").exit_code == 0


def test_dsn_after_the_command_and_libpq_environment(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Placed", {})])
    after = environment_process({}, "streams", "--dsn", dsn)
    assert after.returncode == 0 and "order-1" in after.stdout, after.stderr
    # After the command it wins over the one before.
    both = environment_process({}, "--dsn", UNREACHABLE, "read", "order-1", "--dsn", dsn)
    assert both.returncode == 0, both.stderr
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    libpq = {
        "PGHOST": str(params["host"]),
        "PGPORT": str(params["port"]),
        "PGUSER": str(params["user"]),
        "PGDATABASE": str(params["dbname"]),
        "PGPASSFILE": str(params["passfile"]),
    }
    from_env = environment_process(libpq, "streams", "--json")
    assert from_env.returncode == 0, from_env.stderr
    assert [json.loads(line)["stream_id"] for line in from_env.stdout.splitlines()] == ["order-1"]
    assert environment_process(libpq, "migrate").returncode == 0
    assert environment_process({**libpq, "PGEVENTSTORE_DSN": UNREACHABLE}, "streams").returncode == 7


def test_status_check_exits_10_while_migrations_are_pending(empty_dsn: str) -> None:
    pending = process(empty_dsn, "status", "--check")
    assert "pending" in pending.stdout
    assert "run 'pgeventstore migrate'" in one_line(pending, 10)
    listed = [json.loads(line) for line in process(empty_dsn, "status", "--json").stdout.splitlines()]
    assert listed and all(row["applied"] is False for row in listed) and listed[0]["migration_id"]
    assert process(empty_dsn, "migrate").returncode == 0
    done = process(empty_dsn, "status", "--check")
    assert done.returncode == 0 and done.stderr == ""
    assert all(
        json.loads(line)["applied"] for line in process(empty_dsn, "status", "--json").stdout.splitlines()
    )


def test_json_output_of_stats_snapshot_subscriptions_and_tail(dsn: str) -> None:
    assert cli(dsn, "append", "order-1", "Placed", '{"total": 12.30}').exit_code == 0
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Paid", {})])
        store.save_snapshot("order-1", 1, {"paid": True})
        store.save_checkpoint("printer", 1)
    stats = json.loads(cli(dsn, "stats", "--json").output)
    assert (stats["streams"], stats["events"], stats["snapshots"]) == (1, 2, 1)
    assert [(c["name"], c["events"]) for c in stats["categories"]] == [("order", 2)]
    assert sorted(t["name"] for t in stats["types"]) == ["Paid", "Placed"]
    snap = json.loads(cli(dsn, "snapshot", "order-1", "--json").output)
    assert (snap["stream_id"], snap["version"], snap["state"], snap["schema_version"]) == (
        "order-1",
        1,
        {"paid": True},
        1,
    )
    (lag,) = [json.loads(line) for line in cli(dsn, "subscriptions", "--json").output.splitlines()]
    assert (lag["subscription"], lag["position"], lag["events_behind"]) == ("printer", 1, 1)
    tailed = cli(dsn, "tail", "--no-follow", "--json").output.splitlines()
    assert [json.loads(line)["type"] for line in tailed] == ["Placed", "Paid"]
    assert '"total": 12.30' in tailed[0]


def test_the_progress_bar_streams_the_input(dsn: str) -> None:
    """The bar counts events while stdin is still open: nothing waits for the whole input."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "PGEVENTSTORE_DSN": dsn}
    child = subprocess.Popen(
        [sys.executable, "-m", "pgeventstore", "append", "s-1", "--file", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(b"".join(b'{"type": "T", "data": {}}\n' for _ in range(2500)))
        child.stdin.flush()
        shown = b""
        deadline = time.monotonic() + 60
        while b"1,000 events" not in shown and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                shown += os.read(controller, 4096)
        assert b"appending to s-1" in shown and b"1,000 events" in shown and b"/s" in shown, shown
        assert child.poll() is None, "still reading stdin"
        child.stdin.close()
        assert child.wait(timeout=60) == 0
        assert child.stdout.read().startswith(b"appended 2500 event(s)")
    finally:
        child.kill()
        os.close(controller)


def test_the_export_bar_counts_events(dsn: str, tmp_path: Path) -> None:
    with EventStore(dsn) as store:
        store.append("long-1", [NewEvent("Tick", {"i": i}) for i in range(2500)])
        store.append("short-1", [NewEvent("Tick", {})])
    code, _, shown = on_terminal(dsn, "export", "--output", str(tmp_path / "dump.jsonl"))
    assert code == 0
    assert b"100%  2,501 events" in shown, shown
