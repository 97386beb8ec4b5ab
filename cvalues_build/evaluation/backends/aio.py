"""Asynchronous requests behind a synchronous interface: one asyncio loop on a daemon thread, and
``map_concurrently``, which keeps N coroutines in flight and hands results to the caller's thread
as they arrive. Used by backends that talk to a server (``openai_api``)."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from typing import Any

from .base import Progress

_FINISHED = object()
Request = Callable[[int], Coroutine[Any, Any, Any]]


class EventLoopThread:
    """One asyncio loop running on a daemon thread; synchronous callers submit coroutines to it."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.submit(coro).result()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


def map_concurrently(runner: EventLoopThread, order: Sequence[int], request: Request, *, n: int, concurrency: int,
                     on_batch: Progress[Any] | None = None) -> tuple[list[Any], tuple[int, BaseException] | None]:
    """``request(i)`` for each i in ``order``, ``concurrency`` at a time; the results in input order
    (``n`` slots) and the first failure as ``(i, error)``, or None.

    Results reach ``on_batch`` on the calling thread as they arrive: every result that came in
    while the previous batch was being handed over forms the next batch (a group commit: one
    write per reply when they come slowly, fewer and larger ones when they come fast). The first
    failure stops new requests; those in flight finish and are handed over before it is returned.
    If the caller stops (``on_batch`` raises, or a KeyboardInterrupt), what is in flight is cancelled."""
    results: list[Any] = [None] * n
    if not order:
        return results, None
    done: queue.SimpleQueue = queue.SimpleQueue()
    future = runner.submit(_workers(order, request, done, concurrency))
    failure: tuple[int, BaseException] | None = None
    try:
        finished = False
        while not finished:
            batch = [done.get()]
            while not done.empty():
                batch.append(done.get())
            finished = _FINISHED in batch
            entries = [e for e in batch if e is not _FINISHED]
            failure = failure or next(((i, err) for i, _, err in entries if err is not None), None)
            ok = [(i, result) for i, result, err in entries if err is None]
            for i, result in ok:
                results[i] = result
            if ok and on_batch is not None:
                on_batch([i for i, _ in ok], [result for _, result in ok])
    except BaseException:
        future.cancel()
        raise
    return results, failure


async def _workers(order: Sequence[int], request: Request, done: queue.SimpleQueue, concurrency: int) -> None:
    pending = iter(order)
    stop = False

    async def worker() -> None:
        nonlocal stop
        for i in pending:
            if stop:
                return
            try:
                done.put((i, await request(i), None))
            except Exception as err:  # noqa: BLE001 - handed to the caller, which names the item
                stop = True
                done.put((i, None, err))

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(order)))))
    finally:
        done.put(_FINISHED)
