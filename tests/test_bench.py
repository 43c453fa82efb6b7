"""``pgeventstore bench --quick`` runs every workload and reports it (timings are never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from click.testing import CliRunner

from pgeventstore.cli import main

WORKLOADS = [
    "1",
    "1b",
    "2",
    "2b",
    "3",
    "4",
    "5",
    "w1",
    "w3",
    "6",
    "7",
    "7b",
    "8a",
    "8b",
    "9a",
    "9b",
    "10",
    "11",
]


def test_quick_bench_reports_every_workload(admin_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        main,
        [
            "--dsn",
            admin_dsn,
            "bench",
            "--quick",
            "--durability",
            "fast",
            "--json-out",
            str(out),
            "--scratch-prefix",
            "pgeventstore_test_bench_",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["runs"][0]
    assert [row["key"] for row in report["results"]] == WORKLOADS
    for row in report["results"]:
        assert row["title"]
        assert set(row["store"]) >= {"events_per_s", "p50_ms", "p99_ms"}
        assert set(row["floor"]) >= {"events_per_s", "p50_ms", "p99_ms"}
        measured = not row["note"].startswith("not measured")
        assert (row["store"]["events"] > 0) == measured, row
        assert (row["floor"]["events"] > 0) == measured, row
        # Every workload is measured against the hand-made table too, and reports both ratios.
        assert set(row["hand"]) >= {"events_per_s", "p50_ms", "p99_ms"}
        assert (row["hand"]["events"] > 0) == measured, row
        assert {"ratio_to_floor", "ratio_to_hand"} <= set(row), row
    rows = {row["key"]: row for row in report["results"]}
    # read_all pages by log number: the store's pass reads the whole log, as the floor's does.
    assert rows["6"]["store"]["events"] == rows["6"]["floor"]["events"] == rows["6"]["hand"]["events"] > 0
    # Workload 7b reads its whole stream in each call, on every side.
    for side in ("store", "floor", "hand"):
        assert rows["7b"][side]["events"] == rows["7b"][side]["calls"] * 200, rows["7b"]
    for key in ("1", "2", "3", "4", "6", "7", "7b"):
        assert rows[key]["target"]["text"].startswith("ratio to hand-made"), rows[key]
    numbering = rows["10"]
    assert numbering["store"]["events"] == numbering["floor"]["events"], "every appended event is numbered"
    assert numbering["details"]["number_log_calls"] == numbering["store"]["calls"] >= 1
    assert numbering["details"]["workload_3_per_s"] == rows["3"]["store"]["events_per_s"]
    assert numbering["target"]["text"].startswith("events numbered/s")
    follow = rows["11"]["details"]
    # The reader got every event the writers appended, once: a latency for each of them.
    assert follow["events"] == rows["11"]["store"]["events"] > 0
    assert (follow["missed"], follow["repeated"]) == (0, 0)
    assert follow["p50_ms"] <= follow["p99_ms"] <= follow["max_ms"]
    assert follow["writers"] == 8
    assert follow["appends_per_s"] == rows["11"]["store"]["events_per_s"] > 0
    assert "commit to readable p50" in rows["11"]["note"]
    assert "synchronous_commit" in report["settings"]
    # The test's role is the superuser: every step starts from a checkpoint (Bench.settle).
    assert report["checkpoints_between_steps"] is True
    table_lines = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    for key in WORKLOADS:
        assert key in table_lines, result.output
    assert "commit to readable p50" in result.output
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        left = conn.execute(
            "select count(*) from pg_database where datname like 'pgeventstore_test_bench_%'"
        ).fetchone()
    assert left == (0,), "the benchmark must drop its scratch databases"
