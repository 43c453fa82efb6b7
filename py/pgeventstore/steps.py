"""Decision logic written once, as a generator of steps, and performed by sync or async drivers.

The aggregate repositories and the subscriptions decide what to do next without doing
any I/O: a generator yields each step (a :class:`~pgeventstore.store.Call` to execute, an
event to hand over, a wait) and is sent the step's outcome. A synchronous and an
asynchronous driver perform the same steps, each with its own kind of connection;
:class:`StepRun` is the bookkeeping both share.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from typing import Any, Generic, TypeVar

StepT = TypeVar("StepT")
ResultT = TypeVar("ResultT")


class StepRun(Generic[StepT, ResultT]):
    """One run of a step generator: iterate it for the steps, set :attr:`outcome` after each.

    The outcome set while a step is being performed is sent into the generator as that
    step's result; an exception caught by :meth:`failing_on` is thrown into it instead. When
    the generator returns, its value is :attr:`result`.
    """

    result: ResultT

    def __init__(self, steps: Generator[StepT, Any, ResultT]) -> None:
        self._steps = steps
        self.outcome: Any = None
        self._error: BaseException | None = None

    def __iter__(self) -> Iterator[StepT]:
        try:
            step = next(self._steps)
            while True:
                yield step
                outcome, error = self.outcome, self._error
                # Each step starts without an outcome: one that sets none (a handler) sends None.
                self.outcome, self._error = None, None
                step = self._steps.send(outcome) if error is None else self._steps.throw(error)
        except StopIteration as done:
            self.result = done.value

    @contextlib.contextmanager
    def failing_on(self, *errors: type[BaseException]) -> Iterator[None]:
        """Around performing a step: one of ``errors`` is thrown into the generator, not raised."""
        try:
            yield
        except errors as error:
            self._error = error
