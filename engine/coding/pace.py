"""How one note's coding is paced: a time budget, and a lock taken per chunk of work.

A long note is coded chunk by chunk (the pipeline reads 20,000 characters at a time, the
mentions are coded in blocks). A shared engine (the REST service) gives each chunk the engine's
lock and lets it go between chunks, so that one long note does not hold every other request
back; a `TurnLock` serves the waiters in the order they came. The budget counts only the time a
note spends on its own chunks, not the time it waits for the lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from .errors import BudgetExceeded


class Pace:
    """The pacing of one `Coder.code` call: `budget` seconds of work at most (None: no limit),
    each chunk under `lock` (None: no lock)."""

    def __init__(
        self, budget: float | None = None, lock: AbstractContextManager | None = None
    ) -> None:
        if budget is not None and budget <= 0:
            raise ValueError(f"a time budget is a positive number of seconds, not {budget!r}")
        self.budget = budget
        self.lock = lock
        self.spent = 0.0

    @contextmanager
    def step(self) -> Iterator[None]:
        """One chunk of work: under the lock, charged to the budget, refused once it is spent."""
        with self.lock or nullcontext():
            self._check()
            start = time.perf_counter()
            try:
                yield
            finally:
                self.spent += time.perf_counter() - start
        self._check()

    def _check(self) -> None:
        if self.budget is not None and self.spent > self.budget:
            raise BudgetExceeded(
                f"note over the time budget: stopped after {self.spent:.1f} s of work "
                f"(limit {self.budget:g} s)"
            )


class TurnLock:
    """A lock that serves its waiters first come, first served. A thread that lets go of a
    `threading.Lock` and takes it again at once usually wins it back; here it queues behind
    the threads already waiting, so chunks of different notes take turns."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._queue: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> None:
        with self._guard:
            if not self._held and not self._queue:
                self._held = True
                return
            turn = threading.Event()
            self._queue.append(turn)
        turn.wait()  # `__exit__` hands the lock over: `_held` stays True

    def __exit__(self, *exc: object) -> None:
        with self._guard:
            if self._queue:
                self._queue.popleft().set()
            else:
                self._held = False
