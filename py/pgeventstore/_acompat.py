"""The asyncio primitives the async source modules use.

:mod:`pgeventstore._compat` has their blocking twins under the same names, so that
``scripts/async_to_sync.py`` only renames the module when it writes the sync modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Event", "call", "sleep", "wait"]

Event = asyncio.Event
sleep = asyncio.sleep


async def wait(event: asyncio.Event, timeout: float) -> None:
    """Return when ``event`` is set or after ``timeout`` seconds, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


async def call(function: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Call ``function`` (a plain function or a coroutine function) and wait for it."""
    result = function(*args)
    if inspect.isawaitable(result):
        await result
