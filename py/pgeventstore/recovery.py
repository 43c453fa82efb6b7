"""Which failures a follower of the log survives, and how long it waits before trying again.

Subscriptions, projections, :func:`~pgeventstore.subscription.follow` and ``pgeventstore
tail`` reconnect after a failure this module calls :func:`retryable` and resume from
where the database says they are (their checkpoint, or the cursor of the last event
given). Resuming is safe because the database keeps it so: a subscription's batch whose
checkpoint was not saved is delivered again (at least once), a projection's batch rolled
back with its checkpoint (exactly once), and a cursor or checkpoint that no longer names
its event raises :class:`~pgeventstore.errors.LogDiverged`, which is never retried.

Retried (the server went away, or rolled a transaction back on its own):

* a connection that broke or could not be opened: ``psycopg.OperationalError`` without a
  SQLSTATE (libpq gives none for a refused or lost connection, nor does a pool that
  timed out waiting for one) or of class 08;
* the server's operator interventions: 57P01 ``admin_shutdown`` (a fast shutdown, a
  terminated backend), 57P02 ``crash_shutdown``, 57P03 ``cannot_connect_now`` (starting
  up, shutting down, a standby not yet consistent), 57P05 ``idle_session_timeout``;
* 53300 ``too_many_connections``;
* 40001 ``serialization_failure`` and 40P01 ``deadlock_detected`` (the transaction
  rolled back, nothing of it stays).

Everything else stops the follower and is raised to its caller: the store's own
exceptions (:class:`~pgeventstore.errors.LogDiverged` above all, and
:class:`~pgeventstore.errors.ReadOnlyStore` when the DSN reaches a standby: name the
primary, e.g. with ``target_session_attrs=read-write``), missing privileges (42501),
a missing or older schema (3F000, 42883), and whatever a handler raises (but a retryable
database error a handler lets through is treated as the follower's own). libpq reports
a refused password or an unknown database as a connection that could not be opened, so
those are retried too, each attempt logged as a warning: bound them with
:attr:`ReconnectPolicy.attempts`. A store on one connection of the caller's cannot
replace it: once it is lost, its followers raise
(:attr:`~pgeventstore.store.EventStore.connection_lost`).
"""

from __future__ import annotations

import dataclasses
import logging
import random

import psycopg

__all__ = ["RETRIED_SQLSTATES", "ReconnectPolicy", "logger", "retryable"]

#: The logger of reconnections (``pgeventstore.recovery``).
logger = logging.getLogger("pgeventstore.recovery")

#: The SQLSTATEs retried besides a broken connection (class 08 and no SQLSTATE at all).
RETRIED_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05", "53300", "40001", "40P01"})


def retryable(error: BaseException) -> bool:
    """Whether a follower reconnects after ``error`` (the policy of this module's docstring)."""
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate
    if state is None:
        return isinstance(error, psycopg.OperationalError)
    return state.startswith("08") or state in RETRIED_SQLSTATES


@dataclasses.dataclass(frozen=True)
class ReconnectPolicy:
    """How a follower waits between attempts after a :func:`retryable` failure.

    The wait before retry ``n`` (1-based) is drawn uniformly from the upper half of
    ``min(max_delay, first_delay * 2**(n-1))``: it grows exponentially, and followers
    that lost the same server at the same moment do not come back in lockstep. The
    count starts again once an attempt gets through. ``attempts`` bounds the retries in a
    row (None: retry until stopped); when they are spent, the last failure is raised.
    """

    first_delay: float = 0.1
    max_delay: float = 10.0
    attempts: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.first_delay <= self.max_delay:
            raise ValueError("ReconnectPolicy needs 0 < first_delay <= max_delay")
        if self.attempts is not None and self.attempts < 0:
            raise ValueError("ReconnectPolicy.attempts must be None or at least 0")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_delay, self.first_delay * 2 ** min(retry - 1, 64))
        return random.uniform(ceiling / 2, ceiling)

    def gives_up(self, retry: int) -> bool:
        """Whether retry number ``retry`` is one too many."""
        return self.attempts is not None and retry > self.attempts


#: What followers use unless told otherwise: retry until stopped, waiting at most 10 s.
DEFAULT_RECONNECT = ReconnectPolicy()


def log_retry(who: str, error: BaseException, retry: int, delay: float) -> None:
    """Log, as a warning, that ``who`` lost its connection and tries again in ``delay`` seconds."""
    logger.warning(
        "%s: %s: %s; reconnecting in %.2f s (retry %d)",
        who,
        type(error).__name__,
        str(error).strip().splitlines()[0] if str(error).strip() else "connection lost",
        delay,
        retry,
    )
