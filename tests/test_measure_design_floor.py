"""``scripts/measure_design_floor.py`` (docs/performance.md, round 5) runs and reports every variant.

Timings are never asserted: the test proves that the command the docs give works and that
each variant really appended (a bare function raises when it inserted nothing).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "measure_design_floor.py"
VARIANTS = ["floor", "append_event", "bare sql", "bare function", "bare, invoker"]


def test_the_design_floor_script_reports_both_workloads() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--calls", "20", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "workload 1: new streams" in out and "workload 2: exact version" in out, out
    rows = [line for line in out.splitlines() if any(line.startswith(f"{v} ") for v in VARIANTS)]
    assert [row.rsplit(None, 4)[0].strip() for row in rows] == VARIANTS * 2, out
    for row in rows:
        wall, client, backend, ratio = (float(x) for x in row.rsplit(None, 4)[1:])
        assert wall > 0 and client >= 0 and backend > 0 and ratio > 0, row
    assert [row.split()[-1] for row in rows if row.startswith("floor ")] == ["1.000", "1.000"]
