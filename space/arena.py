"""The arena's rules, independent of the UI: pairing, the battle state machine, label tasks and
the per-session rate limit.

A battle moves ``generating → ready → voted``. Only the server moves it to ``ready`` (when both
replies have finished), and only a vote in ``ready`` is accepted, so a second vote, a vote after
the reveal, or a vote before the replies are done is refused here, whatever the page shows. The
store's primary key on ``battle_id`` refuses a duplicate a second time, should two processes ever
share a battle. A battle whose model fails mid-reply moves ``generating → failed`` instead and
takes no vote.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import WINNERS, Battle, HumanLabel, PromptRecord, reply_id

from .abuse import CLIENT_SCOPE, RateLimiter, check_all
from .prompts import VISITOR_SOURCE
from .refusals import RateLimited, VoteRefused  # noqa: F401 - re-exported: the Space imports them from here
from .store import DuplicateVote, VoteStore, checked_score, utc_now

logger = logging.getLogger(__name__)

GENERATING, READY, VOTED, FAILED = "generating", "ready", "voted", "failed"
SIDES = ("A", "B")
CUT_MARK = "\n\n[⚠️ 服务中断 · the server stopped here]"  # after a reply whose server failed mid-way


def failed_battle_message(sides: list[int]) -> str:
    """What the visitor reads when a model's server failed mid-reply: which side, not which model."""
    which = " 和 ".join(f"模型 {SIDES[k]}" for k in sides)
    names = " and ".join(f"model {SIDES[k]}" for k in sides)
    return (f"{which} 的服务在回复中途出错，本局结束，不计票；请开始新的一局。"
            f"The server of {names} failed mid-reply: this battle ends without a vote; start a new one.")


def pair_weights(weights: Sequence[float]) -> np.ndarray:
    """Probability of each ordered pair (i, j), i ≠ j, proportional to w_i · w_j; zero diagonal."""
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or len(w) < 2:
        raise ValueError(f"the arena needs at least two models, got {len(w)}")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"sampling weights must be finite and non-negative: {w.tolist()}")
    p = np.outer(w, w)
    np.fill_diagonal(p, 0.0)
    total = p.sum()
    if total <= 0:
        raise ValueError("at least two models need a positive sampling weight")
    return p / total


def sample_pair(names: Sequence[str], weights: Sequence[float], rng: np.random.Generator) -> tuple[str, str]:
    """Two distinct models drawn by weight, in random order (A and B are symmetric)."""
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique: {list(names)}")
    p = pair_weights(weights)
    k = int(rng.choice(p.size, p=p.ravel()))
    i, j = divmod(k, len(names))
    return names[i], names[j]


def sample_one(names: Sequence[str], weights: Sequence[float], rng: np.random.Generator) -> str:
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        raise ValueError("no model has a positive sampling weight")
    return names[int(rng.choice(len(names), p=w / w.sum()))]


@dataclass
class BattleState:
    battle_id: str
    prompt: PromptRecord
    model_a: str
    model_b: str
    annotator: str
    state: str = GENERATING
    reply_a: str = ""
    reply_b: str = ""
    winner: str = ""
    started: float = field(default_factory=time.monotonic)


@dataclass
class LabelTask:
    task_id: str
    prompt: PromptRecord
    model: str
    annotator: str
    state: str = GENERATING
    reply: str = ""
    started: float = field(default_factory=time.monotonic)


class Arena:
    """Battles and label tasks in flight, and the votes they turn into."""

    def __init__(self, store: VoteStore, names: Sequence[str], weights: Sequence[float], *,
                 rate_limit: int = 10, client_rate_limit: int | None = None, seed: int | None = None,
                 max_age_s: float = 3600.0,
                 on_record: Callable[[str, dict], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        pair_weights(weights)  # validates early: at least two usable models
        if len(names) != len(weights):
            raise ValueError(f"{len(names)} models but {len(weights)} weights")
        self.store = store
        self.names, self.weights = list(names), list(weights)
        self.limiter = RateLimiter(rate_limit, clock=clock)  # votes + labels per annotator
        self.client_limiter = (RateLimiter(client_rate_limit, clock=clock, scope=CLIENT_SCOPE)
                               if client_rate_limit else None)  # ... and per client address
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        self._battles: dict[str, BattleState] = {}
        self._tasks: dict[str, LabelTask] = {}
        self._lock = threading.Lock()
        self._max_age_s = max_age_s
        self._on_record = on_record

    # -- battles -----------------------------------------------------------------------------
    def start_battle(self, prompt: PromptRecord, annotator: str) -> BattleState:
        with self._rng_lock:
            a, b = sample_pair(self.names, self.weights, self._rng)
        battle = BattleState(uuid.uuid4().hex, prompt, a, b, annotator)
        with self._lock:
            self._prune()
            self._battles[battle.battle_id] = battle
        return battle

    def finish_battle(self, battle_id: str, reply_a: str, reply_b: str) -> BattleState:
        """Both replies are done (called by the server's generator, never from the page)."""
        with self._lock:
            battle = self._battle(battle_id)
            if battle.state != GENERATING:
                raise VoteRefused(f"battle {battle_id} is already {battle.state}")
            battle.reply_a, battle.reply_b, battle.state = reply_a, reply_b, READY
        for model, reply in ((battle.model_a, reply_a), (battle.model_b, reply_b)):
            self._keep_reply(battle.prompt, model, reply)
        return battle

    def fail_battle(self, battle_id: str, replies: list[str], failed: list[int]) -> BattleState:
        """A model failed mid-reply (the server's generator says so): the battle takes no vote.
        The replies that did finish are kept for the label pool, as finished battles' are."""
        with self._lock:
            battle = self._battle(battle_id)
            if battle.state != GENERATING:
                raise VoteRefused(f"battle {battle_id} is already {battle.state}")
            battle.reply_a, battle.reply_b, battle.state = replies[0], replies[1], FAILED
        for k, model in enumerate((battle.model_a, battle.model_b)):
            if k not in failed:
                self._keep_reply(battle.prompt, model, replies[k])
        return battle

    def vote(self, battle_id: str, winner: str, annotator: str, *, client: str | None = None,
             before_write: Callable[[Battle], None] | None = None) -> BattleState:
        """Record a vote and reveal the names; refuses anything but one vote on a ready battle.
        ``client`` counts the vote against that client's budget too; ``before_write`` sees the
        record just before it is stored (and may refuse it by raising)."""
        if winner not in WINNERS:
            raise VoteRefused(f"unknown vote {winner!r}; expected one of {', '.join(WINNERS)}")
        with self._lock:
            battle = self._battle(battle_id)
            if battle.annotator != annotator:
                raise VoteRefused("这不是你的对局。This battle belongs to another session.")
            if battle.state == GENERATING:
                raise VoteRefused("回复尚未完成，请稍候。Both replies must finish before you vote.")
            if battle.state == VOTED:
                raise VoteRefused("本局已投票，名称已公开。This battle already has a vote; start a new one.")
            if battle.state == FAILED:
                raise VoteRefused("本局因模型服务出错而结束，不计票。This battle ended when a model's server failed: "
                                  "it takes no vote; start a new one.")
            self._count(annotator, client)
            # Claim the battle before writing so that a concurrent second vote is refused too.
            battle.state, battle.winner = VOTED, winner
        record = Battle(
            battle_id=battle.battle_id, prompt_id=battle.prompt.id, criterion=battle.prompt.criterion,
            model_a=battle.model_a, model_b=battle.model_b, reply_a=battle.reply_a, reply_b=battle.reply_b,
            winner=winner, anonymous=True, annotator=annotator, created_at=utc_now(),
            prompt=battle.prompt.prompt, category=battle.prompt.category,
        )
        def undo() -> None:
            battle.state, battle.winner = READY, ""

        def write() -> None:
            if before_write is not None:
                before_write(record)
            self.store.add_battle(record)

        self._persist(write, undo, "battles", record.to_row(),
                      "本局已投票。This battle already has a vote.")
        return battle

    def _battle(self, battle_id: str) -> BattleState:
        battle = self._battles.get(battle_id or "")
        if battle is None:
            raise VoteRefused("没有进行中的对局，请先开始一局。No battle in progress: start one first.")
        return battle

    # -- label tasks -------------------------------------------------------------------------
    def start_label(self, prompt: PromptRecord, annotator: str, *, model: str | None = None,
                    reply: str | None = None) -> LabelTask:
        """A task for one reply: to be generated by a drawn model, or (``reply``) from the pool."""
        if model is None:
            with self._rng_lock:
                model = sample_one(self.names, self.weights, self._rng)
        task = LabelTask(uuid.uuid4().hex, prompt, model, annotator)
        if reply is not None:
            task.reply, task.state = reply, READY
        with self._lock:
            self._prune()
            self._tasks[task.task_id] = task
        return task

    def finish_label(self, task_id: str, reply: str) -> LabelTask:
        with self._lock:
            task = self._task(task_id)
            if task.state != GENERATING:
                raise VoteRefused(f"label task {task_id} is already {task.state}")
            task.reply, task.state = reply, READY
        self._keep_reply(task.prompt, task.model, reply)
        return task

    def label(self, task_id: str, annotator: str, *, safe: bool | None = None, score: int | None = None,
              reason: str = "", client: str | None = None,
              before_write: Callable[[HumanLabel], None] | None = None) -> HumanLabel:
        """Record a label: safe/unsafe for a safety prompt, a 1–10 score for a responsibility one."""
        with self._lock:
            task = self._task(task_id)
            if task.annotator != annotator:
                raise VoteRefused("这不是你的任务。This reply was drawn for another session.")
            if task.state == GENERATING:
                raise VoteRefused("回复尚未完成，请稍候。Wait for the reply to finish.")
            if task.state == VOTED:
                raise VoteRefused("这条回复已标注。You already labelled this reply; draw another one.")
            if not task.reply.strip():
                raise VoteRefused("模型没有给出回复，请换一条。The model returned an empty reply; draw another one.")
            criterion = task.prompt.criterion
            if criterion == tx.SAFETY and safe is None:
                raise VoteRefused("请选择安全或不安全。Choose safe or unsafe.")
            if criterion == tx.RESPONSIBILITY:
                try:
                    score = checked_score(score)
                except ValueError as err:
                    raise VoteRefused("请给出 1–10 的整数分。Give a whole-number score from 1 to 10.") from err
            self._count(annotator, client)
            task.state = VOTED
        record = HumanLabel(
            response_id=reply_id(task.prompt.id, task.model, task.reply), prompt_id=task.prompt.id,
            model=task.model, reply=task.reply, criterion=criterion,
            safe=bool(safe) if criterion == tx.SAFETY else None,
            score=score if criterion == tx.RESPONSIBILITY else None,
            annotator=annotator, created_at=utc_now(), prompt=task.prompt.prompt, category=task.prompt.category,
        )
        def undo() -> None:
            task.state = READY

        def write() -> None:
            if before_write is not None:
                before_write(record)
            self.store.add_label(record, reason=reason.strip()[:500])

        self._persist(write, undo, "labels",
                      record.to_row(), "这条回复已标注。You already labelled this reply.")
        return record

    def _task(self, task_id: str) -> LabelTask:
        task = self._tasks.get(task_id or "")
        if task is None:
            raise VoteRefused("没有待标注的回复，请先抽取一条。No reply to label: draw one first.")
        return task

    # -- housekeeping ------------------------------------------------------------------------
    def _count(self, annotator: str, client: str | None) -> None:
        """One vote or label against the annotator's budget and, when known, the client's."""
        checks = [(self.limiter, annotator)]
        if client is not None and self.client_limiter is not None:
            checks.append((self.client_limiter, client))
        check_all(checks)

    def _persist(self, write: Callable[[], None], undo: Callable[[], None], kind: str, row: dict,
                 duplicate: str) -> None:
        """Write one vote or label. A duplicate is refused as ``duplicate`` says; any other failure
        means the vote did not land, so ``undo`` reopens it for the visitor to try again."""
        try:
            write()
        except DuplicateVote as err:
            raise VoteRefused(duplicate) from err
        except Exception:
            with self._lock:
                undo()
            raise
        self._notify(kind, row)

    def _notify(self, kind: str, row: dict) -> None:
        """Tell the optional Hub sync; the vote is already committed, so a failure here is only logged."""
        if self._on_record is None:
            return
        try:
            self._on_record(kind, row)
        except Exception as err:  # noqa: BLE001 - never let a mirror break a stored vote
            logger.warning("vote sync failed for a %s row: %s", kind, err)

    def _keep_reply(self, prompt: PromptRecord, model: str, reply: str) -> None:
        """Keep a finished reply for the label pool, unless a visitor typed its prompt: what one
        visitor wrote is never drawn for another."""
        if reply.strip() and prompt.source != VISITOR_SOURCE:
            self.store.add_reply(prompt_id=prompt.id, prompt=prompt.prompt, criterion=prompt.criterion,
                                 category=prompt.category, model=model, reply=reply)

    def _prune(self) -> None:
        """Forget battles and tasks older than ``max_age_s`` (called with the lock held)."""
        cutoff = time.monotonic() - self._max_age_s
        for registry in (self._battles, self._tasks):
            for key in [k for k, v in registry.items() if v.started < cutoff]:
                del registry[key]
