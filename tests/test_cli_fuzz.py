"""A property-based fuzz of the command line (issue 16): random bytes, JSON and numbers.

``append``, ``append --file``, ``import`` and ``read`` get adversarial arguments and input:
bytes that are not UTF-8 (as the shell passes them, and on stdin), lone surrogates, NaN
and Infinity, numbers beyond any range, nesting deeper than anything reads, U+0000,
misspelled and missing keys, versions beyond bigint, digits that are not 0-9. Every run
must exit 0 or with a documented code, a failure with exactly one line on stderr (never
"unexpected error") and nothing written. The default run takes well under a minute;
``--soak`` runs many more examples.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pgeventstore.cli import main

#: Exit codes these inputs may end with (README, "Command line"): success, usage or input,
#: wrong expected version, not found, duplicate event id, refused by the database.
ALLOWED = {0, 2, 3, 4, 5, 6}

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
SOAK = settings(FUZZ, max_examples=1500)

NASTY = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999999",
    "-1e-999999",
    "1e99999999999999999999",
    "1" * 5000,
    '"\\ud800"',
    '"x\\udfffy"',
    '"\\ud83d\\ude00"',
    '"\\u0000"',
    '"\\u0000decimal:1"',
    "[" * 3000 + "]" * 3000,
    "[" * 500 + "]" * 500,
    '{"a": 1, "a": 2}',
    "{",
    "",
    "null",
]

LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
VALUE = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
#: Text as a shell passes it: any bytes, the ones that are not UTF-8 as lone surrogates.
SHELL_TEXT = st.binary(max_size=16).map(lambda raw: raw.decode("utf-8", "surrogateescape"))
JSON_TEXT = st.one_of(
    VALUE.map(json.dumps),
    VALUE.map(json.dumps),
    VALUE.map(json.dumps),
    st.sampled_from(NASTY),
    st.sampled_from(NASTY).map(lambda token: f'{{"k": {token}}}'),
    st.text(max_size=20),
    SHELL_TEXT,
)
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        ["any", "no-stream", "stream-exists", "-1", "-2", "-3", "²", "٣", "1.5", "0x10", " 3 ", "+1", ""]
    ),
    st.text(max_size=4),
)
STREAM = st.one_of(
    st.sampled_from(["fz-1", "fz-2", "other-1"]),
    st.sampled_from(["fz-1", "fz-2", "other-1"]),
    st.sampled_from(["fz-1", "fz-2", "other-1", "", "-", "fz-\x01", "fz-\x00"]),
    SHELL_TEXT,
)
KEY = st.sampled_from(["type", "data", "metadata", "id", "dta", "Metadata", "metdata", "extra"])
UUIDS = st.sampled_from([f"00000000-0000-0000-0000-{n:012d}" for n in range(1, 6)])


def event_line(value: Any) -> str:
    return json.dumps(value)


EVENT = st.one_of(
    st.builds(lambda t, d: {"type": t, "data": d}, st.sampled_from(["T", "Placed"]), VALUE),
    st.builds(lambda t, d, i: {"type": t, "data": d, "id": i}, st.sampled_from(["T", ""]), VALUE, UUIDS),
    st.dictionaries(KEY, VALUE | UUIDS, max_size=4),
).map(event_line)
NASTY_EVENT = st.sampled_from(NASTY).map(lambda token: f'{{"type": "T", "data": {token}}}')
LINE = st.one_of(EVENT, EVENT, EVENT, NASTY_EVENT, JSON_TEXT, st.just("")).map(
    lambda text: text.encode("utf-8", "surrogateescape")
) | st.binary(max_size=24)
FILE = st.lists(LINE, max_size=6).map(lambda lines: b"\n".join(lines) + b"\n")

EXPORTED = st.fixed_dictionaries(
    {},
    optional={
        "stream_id": st.sampled_from(["fz-1", "fz-2", "imp-1"]) | SHELL_TEXT,
        "version": st.integers(min_value=-2, max_value=3)
        | st.sampled_from([2**63, 2**70, True, 1.5, "0", None]),
        "id": UUIDS | st.none() | st.text(max_size=8),
        "type": st.sampled_from(["T", ""]),
        "data": VALUE,
        "metadata": VALUE,
        "dta": VALUE,
        "global_position": st.integers(min_value=0, max_value=10),
        "recorded_at": st.just("2026-01-02T10:00:00+00:00"),
    },
).map(event_line)
EXPORTED_GOOD = st.builds(
    lambda stream, version, event_id, data: {
        "stream_id": stream,
        "version": version,
        "id": event_id,
        "type": "T",
        "data": data,
        "metadata": None,
    },
    st.sampled_from(["imp-1", "imp-2"]),
    st.integers(min_value=0, max_value=3),
    UUIDS,
    VALUE,
).map(event_line)
IMPORT_FILE = st.lists(
    st.one_of(
        EXPORTED_GOOD.map(lambda text: text.encode()),
        EXPORTED_GOOD.map(lambda text: text.encode()),
        EXPORTED.map(lambda text: text.encode()),
        NASTY_EVENT.map(str.encode),
        st.binary(max_size=16),
    ),
    max_size=5,
).map(lambda lines: b"\n".join(lines) + b"\n")


@pytest.fixture
def run(dsn: str) -> Iterator[Callable[[list[str], bytes], None]]:
    """Run the command line in-process and check the properties of its outcome."""
    counter = psycopg.connect(dsn, autocommit=True)

    def events() -> int:
        row = counter.execute("select count(*) from eventstore.events").fetchone()
        assert row is not None
        return int(row[0])

    def check(args: list[str], stdin: bytes) -> None:
        before = events()
        result = CliRunner().invoke(main, ["--dsn", dsn, *args], input=stdin, catch_exceptions=False)
        assert result.exit_code in ALLOWED, (args, stdin[:200], result.exit_code, result.stderr)
        event(f"exit {result.exit_code}")
        if result.exit_code != 0:
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("pgeventstore: "), (args, result.stderr)
            assert "unexpected error" not in result.stderr, (args, result.stderr)
            assert events() == before, (args, stdin[:200], "a failed command wrote")

    yield check
    counter.close()


def fuzz(**strategies: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """@given(**strategies) with FUZZ settings, and the same property as <name>_soak with SOAK."""

    def decorate(check: Callable[..., None]) -> Callable[..., None]:
        globals()[f"{check.__name__}_soak"] = pytest.mark.soak(SOAK(given(**strategies)(check)))
        return FUZZ(given(**strategies)(check))

    return decorate


@fuzz(
    stream=STREAM,
    event_type=st.sampled_from(["T", "Placed"]) | st.sampled_from(["T", ""]) | SHELL_TEXT,
    data=JSON_TEXT,
    metadata=st.none() | st.none() | st.none() | JSON_TEXT,
    expected=st.none() | st.none() | NUMBER,
    piped=st.booleans(),
)
def test_append(
    run: Callable[[list[str], bytes], None],
    stream: str,
    event_type: str,
    data: str,
    metadata: str | None,
    expected: str | None,
    piped: bool,
) -> None:
    args = ["append", stream, event_type] + ([] if piped else [data])
    if metadata is not None:
        args += ["--metadata", metadata]
    if expected is not None:
        args += ["-e", expected]
    run(args, data.encode("utf-8", "surrogateescape") if piped else b"")


@fuzz(stream=STREAM, content=FILE, expected=st.none() | st.none() | NUMBER)
def test_append_file(
    run: Callable[[list[str], bytes], None], stream: str, content: bytes, expected: str | None
) -> None:
    run(["append", stream, "--file", "-"] + ([] if expected is None else ["-e", expected]), content)


@fuzz(content=IMPORT_FILE)
def test_import(run: Callable[[list[str], bytes], None], content: bytes) -> None:
    run(["import"], content)


@fuzz(
    stream=STREAM,
    start=st.none() | st.integers(min_value=-1, max_value=5).map(str) | NUMBER,
    limit=st.none() | st.integers(min_value=1, max_value=5).map(str) | NUMBER,
    backward=st.booleans(),
    as_json=st.booleans(),
)
def test_read(
    run: Callable[[list[str], bytes], None],
    stream: str,
    start: str | None,
    limit: str | None,
    backward: bool,
    as_json: bool,
) -> None:
    args = ["read", stream]
    if start is not None:
        args += ["--from", start]
    if limit is not None:
        args += ["--limit", limit]
    args += ["--backward"] * backward + ["--json"] * as_json
    run(args, b"")
