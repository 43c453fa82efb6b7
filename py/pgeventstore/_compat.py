"""The blocking twins of :mod:`pgeventstore._acompat`, under the same names."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Event", "call", "sleep", "wait"]

Event = threading.Event
sleep = time.sleep


def wait(event: threading.Event, timeout: float) -> None:
    """Return when ``event`` is set or after ``timeout`` seconds, whichever comes first."""
    event.wait(timeout)


def call(function: Callable[..., None], *args: Any) -> None:
    """Call ``function``."""
    function(*args)
