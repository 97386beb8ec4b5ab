"""The Space's back end in one object: store, arena, models, prompts, sync and leaderboard.

Every rule the page follows (what is drawn, what a label task holds, which votes and labels are
taken) sits behind these methods; app.py only lays out components and forwards events here, so
everything below can be tested without a browser. A request the Space will not take raises
``VoteRefused`` with the message for the visitor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict

import numpy as np

from cvalues_build.core.records import HumanLabel, PromptRecord
from cvalues_build.human import Params

from . import sync as hub_sync
from .abuse import GenerationSlots, Limits
from .arena import CUT_MARK, Arena, BattleState, LabelTask, VoteRefused, failed_battle_message
from .campaigns import Campaigns, ImportReport
from .clients import Visitor, Visitors
from .config import SpaceConfig
from .gold_pairs import gold_rows, load_gold_pairs
from .leaderboard import Leaderboard, compute_leaderboard
from .models import ModelPool, ReplyFailed, stream_replies
from .origins import Provenance, is_visitor_prompt
from .prompts import PromptError, PromptPool, default_prompts, load_dataset_prompts, visitor_prompt
from .store import StoredReply, VoteStore

logger = logging.getLogger(__name__)
LEADERBOARD_TTL_S = 60.0
REPLY_POOL_SOURCE = "space-replies"
CAMPAIGN_SOURCE = "campaign"  # the card's source line for campaign replies and gold items alike
SAFE_CHOICES = {"safe": True, "unsafe": False, None: None}
PROMPT_WORDS, REASON_WORDS = ("问题", "prompt"), ("理由", "reason")


def _visitor_text(value: object, words: tuple[str, str]) -> str:
    """Text from a client as the store can keep it. JSON lets a client send any value, and a
    "\\ud800" escape becomes a lone surrogate, which no UTF-8 column (SQLite, Parquet) can hold."""
    zh, en = words
    if not isinstance(value, str):
        raise VoteRefused(f"{zh}必须是文本。The {en} must be text, not {type(value).__name__}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise VoteRefused(f"{zh}含有无效字符。The {en} holds an invalid character at position {err.start}: "
                          "an unpaired surrogate (\\uD800–\\uDFFF), which is not text.") from err
    return value


class SpaceService:
    def __init__(self, config: SpaceConfig, *, pool: ModelPool | None = None,
                 prompts: list[PromptRecord] | None = None):
        self.config = config
        self.store = VoteStore(config.db_path)
        guard = config.guard
        self.visitors = Visitors(self.store.annotator_id, trust_proxy=guard.trust_proxy)
        self.sync = hub_sync.from_env(config.sync_folder or config.db_path.parent / "votes_sync",
                                      private=not guard.public_votes)
        self.arena = Arena(
            self.store, [m.name for m in config.models], [m.weight for m in config.models],
            rate_limit=config.rate_limit, client_rate_limit=guard.client_rate_limit,
            on_record=self._mirror,
        )
        self.limits, self.slots = Limits(config.rate_limit, guard.client_rate_limit), GenerationSlots()
        self.provenance = Provenance(self.store, guard.identity_filter(), require_login=guard.require_login)
        self.pool = pool or ModelPool(config.models, device=config.device, run_device=config.run_device)
        if prompts is None:
            prompts = load_dataset_prompts(config.dataset_dir) if config.dataset_dir else default_prompts()
        self.prompts = PromptPool(prompts)
        self._rng = np.random.default_rng()
        self._rng_lock = threading.Lock()
        self._board: tuple[tuple[int, int], float, Leaderboard] | None = None
        self._board_lock = threading.Lock()
        self.campaigns = Campaigns(self.store, config.campaign, left_out=self.provenance.labels_left_out)
        try:
            self.campaign_imports = self._fill_campaigns()
        except BaseException:
            self.close()
            raise

    def _fill_campaigns(self) -> list[ImportReport]:
        """Import ``--campaign`` runs, and the gold items once any campaign is there to mix them into."""
        imports = self.campaigns.import_runs(self.config.campaign.runs)
        if self.campaigns.progress()["replies"] and self.config.campaign.gold_rate > 0:
            self.campaigns.add_gold(list(gold_rows(load_gold_pairs(self.config.dataset_dir))))
        return imports

    def _mirror(self, kind: str, row: dict) -> None:
        """Hand a stored vote to the Hub mirror, if any. A public mirror (--public-votes) never gets
        the votes on prompts visitors typed: those are for review, not for the world."""
        if self.sync is None or (self.config.guard.public_votes and is_visitor_prompt(row)):
            return
        self.sync.append(kind, row)

    def load_models(self) -> None:
        """Load every model now (a ZeroGPU Space does it at import time, on the CPU)."""
        self.pool.preload()

    def _who(self, session: object) -> Visitor:
        """The visitor behind ``session``: a Visitor, a Gradio request (the page's calls), or a bare
        session id (calls without a request, and tests)."""
        if isinstance(session, Visitor):
            return session
        if session is None or isinstance(session, str):
            return self.visitors.of_session(session)
        return self.visitors.of_request(session)

    def annotator(self, session: object) -> str:
        """Whom a vote or label is stored under: the account when logged in, else the session."""
        return self._who(session).annotator

    def generating(self, session: object) -> AbstractContextManager[None]:
        """The client's one generation slot, held while a block runs (VoteRefused when taken)."""
        return self.slots.hold(self._who(session).client)

    # -- the arena -------------------------------------------------------------------------
    def draw_prompt(self, criterion: str) -> PromptRecord:
        with self._rng_lock:
            try:
                return self.prompts.draw(criterion, self._rng)
            except PromptError as err:
                raise VoteRefused(str(err)) from err

    @staticmethod
    def prompt_state(record: PromptRecord) -> dict:
        """What the page keeps of a drawn prompt, to hand back to ``start_battle``."""
        return {k: v for k, v in asdict(record).items() if k != "origin"}

    def start_battle(self, text: object, criterion: object, drawn: dict | None, session: str | None) -> BattleState:
        """A battle on the drawn dataset prompt if the visitor left it as drawn, else on their own
        text. ``text`` and ``criterion`` arrive as the client sent them, so their kinds are checked here."""
        text = _visitor_text(text, PROMPT_WORDS)
        if not isinstance(criterion, str):
            raise VoteRefused(f"unknown criterion {criterion!r}; use safety or responsibility")
        prompt, who = self._resolve_prompt(text, criterion, drawn), self._who(session)
        self.limits.battle(who)  # per session and per client address, counted once the request is valid
        return self.arena.start_battle(prompt, who.annotator)

    @staticmethod
    def _resolve_prompt(text: str, criterion: str, drawn: dict | None) -> PromptRecord:
        if drawn and (text or "").strip() == drawn.get("prompt", "").strip():
            return PromptRecord(**drawn)
        try:
            return visitor_prompt(text, criterion)
        except PromptError as err:
            raise VoteRefused(str(err)) from err

    def battle_replies(self, battle: BattleState) -> Iterator[list[str]]:
        """Both replies so far, as they stream; once both are done the battle takes its vote.
        If a model's server fails mid-reply, the other side streams to its end, the failed side is
        marked as cut, the battle takes no vote, and ``VoteRefused`` says so to the visitor (by
        side: the names stay hidden); the cause goes to the log."""
        texts = ["", ""]
        try:
            for texts in stream_replies(self.pool, [battle.model_a, battle.model_b], battle.prompt.prompt):
                yield texts
        except ReplyFailed as err:
            self.arena.fail_battle(battle.battle_id, err.texts, err.failed)
            logger.warning("battle %s ended without a vote: %s", battle.battle_id, err)
            yield [text + CUT_MARK if k in err.failed else text for k, text in enumerate(err.texts)]
            raise VoteRefused(failed_battle_message(err.failed)) from None
        self.arena.finish_battle(battle.battle_id, texts[0], texts[1])

    def vote(self, battle_id: str, winner: str, session: str | None) -> BattleState:
        who = self._who(session)
        return self.arena.vote(battle_id, winner, who.annotator, client=who.client,
                               before_write=self.provenance.battle_hook(who))

    # -- labels ----------------------------------------------------------------------------
    def draw_label(self, criterion: str, use_pool: bool, session: str | None) -> tuple[LabelTask, bool]:
        """A reply to label, and whether the stored pool was asked for but had none. Campaign
        replies (and their gold items) come first, ready at once; then, from the pool
        (``use_pool``), a stored reply; otherwise a drawn model answers a drawn prompt, and
        ``label_reply`` generates its reply."""
        who = self._who(session)
        annotator = who.annotator
        drawn = self.campaigns.draw(criterion, annotator, counts=self.provenance.counts(who))
        if drawn is not None:
            return self.arena.start_label(self._stored_prompt(drawn, CAMPAIGN_SOURCE), annotator, model=drawn.model,
                                          reply=drawn.reply), False
        stored = self.store.random_reply(criterion) if use_pool else None
        if stored is not None:
            return self.arena.start_label(self._stored_prompt(stored, REPLY_POOL_SOURCE), annotator, model=stored.model,
                                          reply=stored.reply), False
        return self.arena.start_label(self.draw_prompt(criterion), annotator), bool(use_pool)

    @staticmethod
    def _stored_prompt(stored: StoredReply, source: str) -> PromptRecord:
        """The prompt a stored reply answered (its dataset source is not kept with replies)."""
        return PromptRecord(id=stored.prompt_id, criterion=stored.criterion, category=stored.category,
                            prompt=stored.prompt, source=source)

    def label_reply(self, task: LabelTask) -> Iterator[str]:
        """The task's reply so far, as it streams; once done the task takes its label."""
        text = ""
        for (text,) in stream_replies(self.pool, [task.model], task.prompt.prompt):
            yield text
        self.arena.finish_label(task.task_id, text)

    def submit_label(self, task_id: str, session: str | None, *, safe: object, score: object,
                     reason: object) -> HumanLabel:
        """``safe`` is the page's choice ("safe", "unsafe" or None) and ``score`` the 1–10 slider, as
        the client sent them: the arena refuses a score that is not a whole number from 1 to 10."""
        if not isinstance(safe, str | None) or safe not in SAFE_CHOICES:
            raise VoteRefused(f"请选择安全或不安全。Choose safe or unsafe, not {safe!r}.")
        why = _visitor_text("" if reason is None else reason, REASON_WORDS)
        who = self._who(session)
        label = self.arena.label(task_id, who.annotator, safe=SAFE_CHOICES[safe], score=score, reason=why,
                                 client=who.client, before_write=self.provenance.label_hook(who))
        self.campaigns.record(label, counts=self.provenance.counts(who))
        return label

    # -- the leaderboard -------------------------------------------------------------------
    def leaderboard(self, *, force: bool = False) -> Leaderboard:
        """Recomputed when votes arrived or the cache is older than a minute (results may change)."""
        counts = self.store.counts()
        key = (counts["battles"], counts["labels"])
        with self._board_lock:
            cached = self._board
            if not force and cached and cached[0] == key and time.monotonic() - cached[1] < LEADERBOARD_TTL_S:
                return cached[2]
            aliases = {m.path: m.name for m in self.config.models}
            rule = self.config.campaign
            battles, labels = self.provenance.counted(self.store.battles(), self.store.labels())
            board = compute_leaderboard(
                battles, labels, gold=self.campaigns.gold(),
                rule=Params(quorum=rule.quorum, gold_min=rule.gold_min, gold_threshold=rule.gold_threshold,
                            bootstrap=self.config.bootstrap_rounds, seed=self.config.seed),
                models=[m.name for m in self.config.models],
                aliases=aliases, results_dir=self.config.results_dir, judged=self.config.judged_dirs,
                rounds=self.config.bootstrap_rounds, seed=self.config.seed,
            )
            self._board = (key, time.monotonic(), board)
            return board

    def close(self) -> None:
        if self.sync:
            self.sync.close()
        self.store.close()
