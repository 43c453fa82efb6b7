"""What a workload measures: the sides' figures, targets, result rows and the timing loops."""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: One call of a workload: returns (events written or read, conflicts met on the way).
Op = Callable[[], tuple[int, int]]
Progress = Callable[[str], None]
#: The three sides of every workload, in the order of a first turn.
SIDES = ("store", "floor", "hand")


@dataclasses.dataclass
class Side:
    """What one side (store, floor or hand) of a workload measured over all its rounds."""

    calls: int = 0
    events: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)

    def add(self, other: Side) -> None:
        """Add the figures of one round."""
        self.calls += other.calls
        self.events += other.events
        self.conflicts += other.conflicts
        self.seconds += other.seconds
        self.latencies.extend(other.latencies)

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        """The q-th percentile (0..100) of the call latencies, in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def summary(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        return {
            "calls": self.calls,
            "events": self.events,
            "seconds": round(self.seconds, 4),
            "events_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile_ms(50), 3),
            "p99_ms": round(self.percentile_ms(99), 3),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 3) if self.latencies else 0.0,
            "conflicts": self.conflicts,
        }


@dataclasses.dataclass(frozen=True)
class Target:
    """A workload's target: ``measured`` compared against ``bound`` (``>=`` or ``<=``)."""

    text: str
    measured: float
    bound: float
    at_least: bool = True
    applies: bool = True

    @property
    def met(self) -> bool | None:
        """Whether the target holds; None when this run cannot tell (e.g. a smaller fill)."""
        if not self.applies:
            return None
        return self.measured >= self.bound if self.at_least else self.measured <= self.bound


def rate_ratio(side: Side, reference: Side) -> float:
    """``side``'s rate as a fraction of ``reference``'s (0 when the reference measured nothing)."""
    return side.rate / reference.rate if reference.rate else 0.0


def hand_target(sides: Mapping[str, Side], bound: float) -> Target:
    """The target of a workload measured against the hand-made floor."""
    return Target(f"ratio to hand-made >= {bound:.2f}", rate_ratio(sides["store"], sides["hand"]), bound)


@dataclasses.dataclass(frozen=True)
class Result:
    """One row of the report: a workload, its three sides and its target."""

    key: str
    title: str
    store: Side
    floor: Side
    hand: Side
    target: Target | None
    note: str = ""
    #: Figures of this workload that the sides do not hold (workloads 10 and 11).
    details: dict[str, Any] | None = None

    @classmethod
    def of(
        cls,
        key: str,
        title: str,
        sides: Mapping[str, Side],
        target: Target | None,
        note: str = "",
        details: dict[str, Any] | None = None,
    ) -> Result:
        """A row from the sides :func:`interleaved` returns."""
        return cls(key, title, sides["store"], sides["floor"], sides["hand"], target, note, details)

    @property
    def ratio(self) -> float:
        """The store's rate as a fraction of the same-indexes floor's."""
        return rate_ratio(self.store, self.floor)

    @property
    def hand_ratio(self) -> float:
        """The store's rate as a fraction of the hand-made floor's."""
        return rate_ratio(self.store, self.hand)

    def as_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        target = self.target
        return {
            "key": self.key,
            "title": self.title,
            "store": self.store.summary(),
            "floor": self.floor.summary(),
            "hand": self.hand.summary(),
            "ratio_to_floor": round(self.ratio, 3),
            "ratio_to_hand": round(self.hand_ratio, 3),
            "target": None
            if target is None
            else {
                "text": target.text,
                "measured": round(target.measured, 3),
                "bound": target.bound,
                "met": target.met,
            },
            "note": self.note,
            "details": self.details,
        }


def timed(calls: int, op: Op, *, seconds: float | None = None) -> Side:
    """Run ``op`` ``calls`` times (with ``seconds``: for that long) on this thread, timing each call."""
    side = Side()
    start = time.perf_counter()
    while side.calls < calls if seconds is None else time.perf_counter() - start < seconds:
        began = time.perf_counter()
        events, conflicts = op()
        side.latencies.append(time.perf_counter() - began)
        side.calls += 1
        side.events += events
        side.conflicts += conflicts
    side.seconds = time.perf_counter() - start
    return side


def timed_concurrently(calls: int, ops: Sequence[Op], *, seconds: float | None = None) -> Side:
    """Run every op of ``ops`` ``calls`` times (or for ``seconds``), each on its own thread, together."""
    barrier = threading.Barrier(len(ops) + 1)
    results: list[Side] = [Side() for _ in ops]
    failures: list[BaseException] = []

    def client(index: int, op: Op) -> None:
        barrier.wait()
        try:
            results[index] = timed(calls, op, seconds=seconds)
        except BaseException as error:  # re-raised on the main thread below
            failures.append(error)

    threads = [threading.Thread(target=client, args=(i, op)) for i, op in enumerate(ops)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if failures:
        raise failures[0]
    total = Side()
    for result in results:
        total.add(result)
    total.seconds = seconds
    return total


def interleaved(
    rounds: int,
    runs: Mapping[str, Callable[[], Side]],
    progress: Progress,
    label: str,
    *,
    blocks: int = 1,
) -> dict[str, Side]:
    """Run every side ``rounds`` times, in ``blocks`` turns each per round, and sum their figures.

    Each turn starts one side later than the one before (store, floor, hand; then floor,
    hand, store; ...), so that every side runs first, in the middle and last equally often
    and a change in the machine's speed falls on all of them alike; short turns (several
    blocks) follow faster changes.
    """
    names = list(runs)
    totals = {name: Side() for name in names}
    turn = 0
    for _ in range(rounds):
        for block in range(blocks):
            shift = turn % len(names)
            turn += 1
            for name in names[shift:] + names[:shift]:
                totals[name].add(runs[name]())
                if block == blocks - 1:
                    progress(label)
    return totals
