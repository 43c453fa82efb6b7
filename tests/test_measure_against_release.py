"""``scripts/measure_against_release.py`` (docs/performance.md, round 10) installs both stores and reports.

Timings are never asserted: the test proves that the command the docs give works, that
the earlier commit's store installs beside this checkout's in one cluster, and that every
variant made its calls (a failed call stops the script).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "measure_against_release.py"
VARIANTS = ["release append_event", "release floor", "current append_event", "current floor", "hand-made"]


def test_the_release_comparison_reports_every_variant_of_both_workloads() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--fast", "--calls", "40", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\n\n")[1:]
    assert [block.splitlines()[0].split(":")[0] for block in blocks] == ["w1", "w2"], result.stdout
    for block in blocks:
        lines = block.splitlines()
        rows = lines[2 : 2 + len(VARIANTS)]
        assert [row.rsplit(None, 2)[0].strip() for row in rows] == VARIANTS, block
        for row in [*rows, *lines[3 + len(VARIANTS) :]]:
            assert all(float(x) > 0 for x in row.split()[-2:]), row
        assert len(lines) == 3 + len(VARIANTS) + 5, block
