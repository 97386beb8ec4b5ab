"""A first-come, first-served lock for the vote store's writers (see store.py for why it is
there at all)."""

from __future__ import annotations

import threading
from collections import deque


class FairLock:
    """A FIFO lock: waiters get it in arrival order, handed over directly on release.

    ``threading.Lock`` lets the thread that just released re-acquire at once (it still holds the
    GIL), so under 50 writers a few threads starve and the latency tail grows; first come, first
    served keeps the worst case near (writers × one commit).
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._busy = False
        self._waiters: deque[threading.Lock] = deque()

    def __enter__(self) -> FairLock:
        with self._mutex:
            if not self._busy:
                self._busy = True
                return self
            baton = threading.Lock()
            baton.acquire()
            self._waiters.append(baton)
        baton.acquire()  # released by the previous holder: the lock is now ours
        return self

    def __exit__(self, *exc: object) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._busy = False
