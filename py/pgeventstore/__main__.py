"""``python -m pgeventstore``: the command line, for environments without the script."""

from __future__ import annotations

from pgeventstore.cli import main

main(prog_name="pgeventstore")
