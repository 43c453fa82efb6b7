"""``scripts/measure_design_floor.py`` (docs/performance.md, round 9) runs and reports every variant.

Timings are never asserted: the test proves that the command the docs give works and that
every variant's statement ran without failing (pgbench counts a failed statement, and the
script stops on one), so that each append really appended and each read read.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "measure_design_floor.py"
APPENDS = [
    "hand",
    "blind store insert",
    "bare sql",
    "bare invoker",
    "bare definer",
    "bare definer+set",
    "append_event",
    "view+trigger",
]
PAGES = ["hand", "plpgsql definer", "sql definer", "hand view", "store view", "numbered copy view"]
PAGES += ["number_log", "read_all", "store view+number_log", "numbered copy view+number_log"]
ALONE = ["hand", "blind store insert", "bare sql", "bare definer", "append_event", "view+trigger"]
MANY = ["--clients", "1,2", "--many", "w2"]
STREAMS = ["hand", "plpgsql definer", "sql definer", "hand view", "store view", "read_stream"]


def test_the_design_floor_script_reports_every_variant() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--fast", "--seconds", "3", "--turns", "1", "--events", "4000", *MANY],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    tables = {
        block.splitlines()[0]: [line.split()[0:-4] for line in block.splitlines()[2:]]
        for block in result.stdout.split("\n\n")[1:]
    }
    names = {title: [" ".join(words) for words in rows] for title, rows in tables.items()}
    assert names == {
        "read_all page of 1000 events": PAGES,
        "read_stream of 2000 events": STREAMS,
        "w1 new streams, 1 client(s), paired": [*APPENDS, "view+check"],
        "w2 exact version, 1 client(s), paired": APPENDS,
        "w2 exact version, 2 client(s), each variant alone, ratio = its tps / hand tps": ALONE,
    }, result.stdout
    for block in result.stdout.split("\n\n")[1:]:
        rows = block.splitlines()[2:]
        assert rows[0].split()[1:] == ["1.000", "1.000", "1.000", rows[0].split()[-1]], block
        for row in rows:
            assert all(float(x) > 0 for x in row.split()[-4:]), row
