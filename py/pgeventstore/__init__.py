"""pgeventstore: a PostgreSQL event store whose guarantees live in the database."""

from __future__ import annotations

__version__ = "0.1.0"
