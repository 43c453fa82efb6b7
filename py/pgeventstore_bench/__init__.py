"""The benchmark behind ``pgeventstore bench``: the store against plain SQL, in one run.

Shipped next to the library, not inside it: ``import pgeventstore`` never loads it, and the
command line imports it only when ``bench`` runs.

Every workload runs three times over, through the store's SQL functions and through two
floors that do the same logical work in plain SQL with no checks:

* the **same-indexes floor** (schema ``bench_floor``): tables with the store's columns and
  all of its indexes (``create table ... (like eventstore.x including all)``), so its
  ratio is the cost of the store's functions alone;
* the **hand-made floor** (schema ``bench_hand``): the table a user would write by hand, a
  primary key, ``unique (stream_id, version)`` and a unique event id, so its ratio is
  everything the store costs over that table, its indexes included.

The sides alternate turn by turn so that drift on a shared machine hits them alike; what
matters is the ratio within one run, not the absolute figures.

The benchmark never touches existing data: it creates scratch databases (a template with
the store and the floors, then one copy per group of workloads) on the server it is given
and drops them at the end, so it needs a role that may create databases.
"""

from __future__ import annotations

from pgeventstore_bench.measure import Result, Side, Target
from pgeventstore_bench.report import format_markdown, format_table, plot
from pgeventstore_bench.run import FULL, QUICK, Bench, Scale

__all__ = [
    "FULL",
    "QUICK",
    "Bench",
    "Result",
    "Scale",
    "Side",
    "Target",
    "format_markdown",
    "format_table",
    "plot",
]
