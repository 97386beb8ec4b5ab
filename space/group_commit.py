"""Group commit for the vote store: one writer thread, one transaction for whatever is queued.

Why: with ``synchronous=FULL`` every COMMIT waits for an fsync of the WAL (4 to 12 ms on an
ordinary disk). One transaction per vote lines 50 concurrent voters up behind 50 fsyncs, and the
last of them waits hundreds of milliseconds. Here each caller queues its statement and blocks; a
single writer thread takes everything queued, runs it in one transaction and acknowledges each
caller only after COMMIT has returned, that is after the fsync. A vote then waits for at most the
commit in progress plus its own, however many people vote at once.

Each statement runs inside its own SAVEPOINT: one that fails (a duplicate vote, a CHECK) is rolled
back alone and its error goes to its own caller, while the rest of the group commits. An error of
the transaction itself (BEGIN, COMMIT, or SQLite rolling the whole transaction back after an I/O
error) goes to every caller in the group, and nothing of the group is stored.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any

MAX_GROUP = 256  # statements per transaction: bounds how long one transaction holds the database


class _Write:
    """One queued statement and the future its caller waits on (its rowcount, or its error)."""

    __slots__ = ("sql", "params", "done")

    def __init__(self, sql: str, params: tuple[Any, ...]):
        self.sql = sql
        self.params = params
        self.done: Future[int] = Future()


class GroupCommitter:
    """Runs statements from many threads in shared transactions on one writer thread.

    ``connect`` returns the connection of the calling thread (opened with ``isolation_level=None``:
    the committer issues BEGIN and COMMIT itself); ``lock`` is held around each transaction, so
    that other writers of the same store (schema creation, bulk imports) take turns with it;
    ``on_commit(n)`` runs on the writer thread after each durable commit of ``n`` statements.
    The writer thread starts with the first statement and is a daemon: an idle committer never
    keeps a process alive. ``close`` commits what is queued and stops it.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], lock: AbstractContextManager[Any],
                 on_commit: Callable[[int], None] = lambda n: None, *, name: str = "cvalues-group-commit"):
        self._connect = connect
        self._lock = lock
        self._on_commit = on_commit
        self._name = name
        self._queue: deque[_Write] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self.groups = 0  # transactions committed
        self.writes = 0  # statements committed in them

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run ``sql`` in the next group's transaction and return its rowcount once that
        transaction is committed. Raises the statement's own error, or the transaction's."""
        write = _Write(sql, params)
        with self._cond:
            self._queue.append(write)
            if self._thread is None:  # the first write, or the first since close()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return write.done.result()

    def pending(self) -> int:
        """Statements queued and not yet taken into a transaction."""
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float | None = None) -> None:
        """Commit everything queued (statements queued meanwhile too), then stop the writer
        thread. A later ``execute`` still works: it starts a writer that stops when idle."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:  # closing, and nothing left to commit
                    self._thread = None
                    return
                group = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_GROUP))]
            self._commit(group)

    def _commit(self, group: list[_Write]) -> None:
        try:
            with self._lock:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    outcomes = [_in_savepoint(conn, write) for write in group]
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # a failed COMMIT leaves the transaction open
                        conn.execute("ROLLBACK")
                    raise
        except BaseException as err:  # the transaction's own error: every caller in it gets it
            for write in group:
                write.done.set_exception(err)
            return
        self.groups += 1
        self.writes += len(group)
        for write, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                write.done.set_exception(outcome)
            else:
                write.done.set_result(outcome)
        self._on_commit(len(group))


def _in_savepoint(conn: sqlite3.Connection, write: _Write) -> int | Exception:
    """Run one statement inside its own savepoint: its rowcount, or its error (rolled back alone).
    Re-raises when SQLite has rolled back the whole transaction, which sinks the group."""
    conn.execute("SAVEPOINT one_write")
    try:
        rowcount = conn.execute(write.sql, write.params).rowcount
    except Exception as err:
        if not conn.in_transaction:
            raise
        conn.execute("ROLLBACK TO one_write")
        conn.execute("RELEASE one_write")
        return err
    conn.execute("RELEASE one_write")
    return rowcount
