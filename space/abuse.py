"""What one visitor may take from the Space: rate limits per session and per client, one
generation at a time per client, and a bounded share of a bounded queue.

- **Rate limits** (``Limits``): starting a battle counts against the session's budget and the
  client's (``rate_limit`` and ``client_rate_limit`` per minute); votes and labels are counted by
  the arena (``Arena(client_rate_limit=...)``) in the same way. A script that invents a new
  session per call still has one client address.
- **One generation per client** (``GenerationSlots``): a second battle or label generation from a
  client while one is running is refused at once, so its queued calls cannot take the workers.
- **The queue** (``QueueGate``, ASGI middleware in front of Gradio's routes): a call that would
  join the queue is refused when the queue holds ``max_size`` events (Gradio's own
  ``queue(max_size=...)`` is the hard bound behind it), or when its client already has
  ``per_client`` events queued or running. The refusal is HTTP 429 with a bilingual ``detail``,
  which Gradio's page shows as it is (a 503 would be replaced by Gradio's English "busy" text).
- **Clients that left**: Gradio drops the queued events of a session whose event stream closed
  and stops iterating its running generators (``Queue.clean_events``), then closes them; the
  generators here release their generation slot in ``finally``, so a visitor who closes the tab
  frees their slot at once.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .clients import Visitor, Visitors
from .refusals import RateLimited, VoteRefused

QUEUE_SIZE = 64  # events waiting in Gradio's queue, all clients together
PER_CLIENT_PENDING = 3  # events one client may have queued or running
CLIENT_RATE_LIMIT = 30  # battles, and votes + labels, per client per minute
BATTLE_WORDS = ("次对战", "battles")
CLIENT_SCOPE = ("（同一网络地址）", " from one network address")
JOIN_PATHS = ("/queue/join", "/call/")  # the POST routes through which an event joins the queue
BUSY_ONE = ("你已有一个回复在生成，请等它完成（或关闭它）后再开始。"
            " A reply is already being generated for you: wait for it to finish before starting another.")


VOTE_WORDS = ("次投票或标注", "votes or labels")


class RateLimiter:
    """At most ``per_minute`` actions per key in any sliding 60-second window. ``what`` names the
    action and ``scope`` whose budget it is, in the refusal ("at most 30 battles from one network
    address per minute")."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, *,
                 what: tuple[str, str] = VOTE_WORDS, scope: tuple[str, str] = ("", "")):
        if per_minute < 1:
            raise ValueError(f"the rate limit must be at least 1 per minute, not {per_minute}")
        self.per_minute = per_minute
        self._clock = clock
        self._what, self._scope = what, scope
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    def check(self, key: str) -> None:
        """Count one action for ``key`` or raise RateLimited with the wait in seconds."""
        check_all([(self, key)])

    def _wait_s(self, key: str, now: float) -> int | None:
        """Seconds until ``key`` may act again, or None when it may now (call with the lock held).
        Keys whose window has emptied are forgotten (all of them once a minute), so that sessions
        invented by the thousand do not grow the table."""
        if now - self._swept >= 60.0:
            self._events = {k: v for k, v in self._events.items() if v and now - v[-1] < 60.0}
            self._swept = now
        events = self._events.get(key)
        while events and now - events[0] >= 60.0:
            events.popleft()
        if events is not None and not events:
            del self._events[key]
            return None
        if events is None or len(events) < self.per_minute:
            return None
        return math.ceil(60.0 - (now - events[0]))

    def _refusal(self, wait: int) -> RateLimited:
        (zh, en), (zh_scope, en_scope) = self._what, self._scope
        return RateLimited(f"请稍候：每分钟最多 {self.per_minute} {zh}{zh_scope}，请 {wait} 秒后再试。"
                           f" Slow down: at most {self.per_minute} {en}{en_scope} per minute; try again in {wait} s.")


def check_all(checks: Sequence[tuple[RateLimiter, str]]) -> None:
    """Count one action against every (limiter, key), or, when any of them is over its limit,
    against none and raise its RateLimited: a refused battle uses up no one's budget."""
    limiters = sorted({id(lim): lim for lim, _ in checks}.values(), key=id)  # one lock order for all callers
    for lim in limiters:
        lim._lock.acquire()
    try:
        stamped = [(lim, key, lim._clock()) for lim, key in checks]
        for lim, key, now in stamped:
            wait = lim._wait_s(key, now)
            if wait is not None:
                raise lim._refusal(wait)
        for lim, key, now in stamped:
            lim._events.setdefault(key, deque()).append(now)
    finally:
        for lim in reversed(limiters):
            lim._lock.release()


def queue_full(max_size: int) -> str:
    return (f"排队已满（{max_size} 个请求），请一分钟后再试。 The Space is busy: its queue holds the most "
            f"requests it takes ({max_size}). Please try again in a minute.")


def too_many_pending(per_client: int) -> str:
    return (f"你已有 {per_client} 个请求在排队或运行，请等它们完成。 You already have {per_client} requests "
            "queued or running: wait for them to finish.")


class Limits:
    """Battle starts per session and per client, in any sliding minute."""

    def __init__(self, per_session: int, per_client: int, clock: Callable[[], float] = time.monotonic):
        self.session = RateLimiter(per_session, clock=clock, what=BATTLE_WORDS)
        self.client = RateLimiter(per_client, clock=clock, what=BATTLE_WORDS, scope=CLIENT_SCOPE)

    def battle(self, visitor: Visitor) -> None:
        """Count one battle start, or raise RateLimited (counting nothing)."""
        check_all([(self.session, visitor.annotator), (self.client, visitor.client)])


class GenerationSlots:
    """At most ``per_client`` generations running per client."""

    def __init__(self, per_client: int = 1):
        self.per_client = per_client
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, client: str) -> Iterator[None]:
        """A slot for ``client`` while the block runs; VoteRefused at once when none is free."""
        with self._lock:
            if self._running.get(client, 0) >= self.per_client:
                raise VoteRefused(BUSY_ONE)
            self._running[client] = self._running.get(client, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._running[client] - 1
                if left:
                    self._running[client] = left
                else:
                    del self._running[client]

    def running(self, client: str) -> int:
        with self._lock:
            return self._running.get(client, 0)


def _gradio_queue(scope: dict) -> Any:
    """Gradio's queue, reached through the app Starlette puts in the scope (None before launch)."""
    app = scope.get("app")
    blocks = app.get_blocks() if app is not None and hasattr(app, "get_blocks") else None
    return getattr(blocks, "_queue", None)


def queued_events(queue: Any) -> Iterator[Any]:
    """Every event waiting in, or running from, Gradio's queue."""
    for event_queue in list(queue.event_queue_per_concurrency_id.values()):
        yield from list(event_queue.queue)
    for job in list(queue.active_jobs):
        yield from job or ()


class QueueGate:
    """ASGI middleware: refuses, before Gradio's queue sees it, a call that would overfill the
    queue or give one client more than ``per_client`` events in it."""

    def __init__(self, app: Any, *, visitors: Visitors, per_client: int = PER_CLIENT_PENDING,
                 max_size: int = QUEUE_SIZE):
        self.app, self.visitors = app, visitors
        self.per_client, self.max_size = per_client, max_size
        self.refused = {"queue_full": 0, "per_client": 0}
        # Joins let through and not yet in the queue (Gradio reads the body first): counted too, so
        # that a burst cannot pass the gate together and meet Gradio's own English "queue full".
        self._joining: dict[str, int] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if not (scope["type"] == "http" and scope.get("method") == "POST"
                and any(p in scope.get("path", "") for p in JOIN_PATHS)):
            await self.app(scope, receive, send)
            return
        client = self.visitors.of_scope(scope)
        message = self.refusal(scope, client)  # no await between this check and the count below
        if message is not None:
            await _refuse(send, message)
            return
        self._joining[client] = self._joining.get(client, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._joining[client] -= 1
            if not self._joining[client]:
                del self._joining[client]

    def refusal(self, scope: dict, client: str | None = None) -> str | None:
        """Why this join is refused, or None to let it through."""
        queue = _gradio_queue(scope)
        if queue is None:
            return None
        client = client or self.visitors.of_scope(scope)
        if len(queue) + sum(self._joining.values()) >= self.max_size:
            self.refused["queue_full"] += 1
            return queue_full(self.max_size)
        mine = self._joining.get(client, 0) + sum(
            1 for e in queued_events(queue)
            if getattr(e, "request", None) is not None and self.visitors.of_scope(e.request.scope) == client)
        if mine >= self.per_client:
            self.refused["per_client"] += 1
            return too_many_pending(self.per_client)
        return None


async def _refuse(send: Any, message: str) -> None:
    body = json.dumps({"detail": message, "error": message}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"retry-after", b"30")]})
    await send({"type": "http.response.body", "body": body})
