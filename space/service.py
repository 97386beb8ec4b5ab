"""The Space's back end in one object: store, arena, models, prompts, sync and leaderboard.

app.py only lays out components and forwards events here, so everything below can be tested
without a browser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict

import numpy as np

from cvalues_build.core.records import PromptRecord

from . import sync as hub_sync
from .arena import Arena
from .config import SpaceConfig
from .leaderboard import Leaderboard, compute_leaderboard
from .models import ModelPool, stream_replies
from .prompts import PromptPool, default_prompts, load_dataset_prompts, visitor_prompt
from .store import StoredReply, VoteStore

LEADERBOARD_TTL_S = 60.0
REPLY_POOL_SOURCE = "space-replies"


class SpaceService:
    def __init__(self, config: SpaceConfig, *, pool: ModelPool | None = None,
                 prompts: list[PromptRecord] | None = None):
        self.config = config
        self.store = VoteStore(config.db_path)
        self.sync = hub_sync.from_env(config.sync_folder or config.db_path.parent / "votes_sync")
        self.arena = Arena(
            self.store, [m.name for m in config.models], [m.weight for m in config.models],
            rate_limit=config.rate_limit, on_record=self.sync.append if self.sync else None,
        )
        self.pool = pool or ModelPool(config.models, device=config.device)
        if prompts is None:
            prompts = load_dataset_prompts(config.dataset_dir) if config.dataset_dir else default_prompts()
        self.prompts = PromptPool(prompts)
        self._rng = np.random.default_rng()
        self._rng_lock = threading.Lock()
        self._board: tuple[tuple[int, int], float, Leaderboard] | None = None
        self._board_lock = threading.Lock()

    def annotator(self, session: str | None) -> str:
        return self.store.annotator_id(session or "anonymous")

    def draw_prompt(self, criterion: str) -> PromptRecord:
        with self._rng_lock:
            return self.prompts.draw(criterion, self._rng)

    @staticmethod
    def resolve_prompt(text: str, criterion: str, drawn: dict | None) -> PromptRecord:
        """The drawn dataset prompt if the visitor left it as drawn, else their own text."""
        if drawn and (text or "").strip() == drawn.get("prompt", "").strip():
            return PromptRecord(**drawn)
        return visitor_prompt(text, criterion)

    @staticmethod
    def prompt_state(record: PromptRecord) -> dict:
        return {k: v for k, v in asdict(record).items() if k != "origin"}

    @staticmethod
    def prompt_record(stored: StoredReply) -> PromptRecord:
        """The prompt a stored reply answered (its dataset source is not kept with replies)."""
        return PromptRecord(id=stored.prompt_id, criterion=stored.criterion, category=stored.category,
                            prompt=stored.prompt, source=REPLY_POOL_SOURCE)

    def stream(self, names: list[str], prompt: str) -> Iterator[list[str]]:
        return stream_replies(self.pool, names, prompt)

    def leaderboard(self, *, force: bool = False) -> Leaderboard:
        """Recomputed when votes arrived or the cache is older than a minute (results may change)."""
        counts = self.store.counts()
        key = (counts["battles"], counts["labels"])
        with self._board_lock:
            cached = self._board
            if not force and cached and cached[0] == key and time.monotonic() - cached[1] < LEADERBOARD_TTL_S:
                return cached[2]
            aliases = {m.path: m.name for m in self.config.models}
            board = compute_leaderboard(
                self.store.battles(), self.store.labels(), models=[m.name for m in self.config.models],
                aliases=aliases, results_dir=self.config.results_dir,
                rounds=self.config.bootstrap_rounds, seed=self.config.seed,
            )
            self._board = (key, time.monotonic(), board)
            return board

    def close(self) -> None:
        if self.sync:
            self.sync.close()
        self.store.close()
