"""Optional mirror of the votes to a Hub dataset repo.

When ``CVALUES_VOTES_REPO`` and a token (``HF_TOKEN`` or a saved login) are set, every committed
vote is also appended to ``<folder>/{battles,labels}/<run>.jsonl`` and a
``huggingface_hub.CommitScheduler`` pushes that append-only folder every few minutes.

The SQLite store stays the record of truth: rows are handed over on a queue and written by a
background thread, so a slow or failing push (or a Hub that cannot be reached at start-up) never
blocks a vote, and a vote that failed to mirror is still in the database and in the next export.

The repo is created **private** unless the Space runs with ``--public-votes``
(``CVALUES_PUBLIC_VOTES``): the mirror holds every vote, including those on prompts visitors typed,
before any review. A repo that already exists keeps its visibility (a warning says when it is
public but should not be). Free-text reasons are never in the rows handed over here.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO_ENV = "CVALUES_VOTES_REPO"


class HubSync:
    """Appends rows to per-run JSONL files and lets a CommitScheduler push them."""

    def __init__(self, folder: str | Path, repo_id: str | None, token: str | None, *, every_minutes: float = 5.0,
                 scheduler_factory: Any = None, private: bool = True):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.repo_id, self._token, self._every = repo_id, token, every_minutes
        self.private = private
        self._factory = scheduler_factory
        self.scheduler: Any = None
        self.run_id = uuid.uuid4().hex[:12]  # one file per process: append-only, no clashes between replicas
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.failures = 0
        self._thread = threading.Thread(target=self._work, name="cvalues-hub-sync", daemon=True)
        self._thread.start()

    def append(self, kind: str, row: dict[str, Any]) -> None:
        """Queue a committed row; returns at once."""
        self._queue.put((kind, row))

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until queued rows are on disk (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(("__flush__", {"event": done}))
        done.wait(timeout)

    def _start_scheduler(self) -> None:
        if not self.repo_id:
            return
        try:
            factory = self._factory
            if factory is None:
                from huggingface_hub import CommitScheduler as factory
            self.scheduler = factory(repo_id=self.repo_id, repo_type="dataset", folder_path=self.folder,
                                     path_in_repo="votes", every=self._every, token=self._token, private=self.private)
            _warn_if_public(self.scheduler, self.repo_id, self.private)
        except Exception as err:  # noqa: BLE001 - the Hub may be down; votes stay local
            self.failures += 1
            logger.warning("vote sync to %s disabled: %s", self.repo_id, err)

    def _work(self) -> None:
        self._start_scheduler()
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, row = item
            if kind == "__flush__":
                row["event"].set()
                continue
            try:
                lock = self.scheduler.lock if self.scheduler is not None else nullcontext()
                path = self.folder / kind / f"{self.run_id}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                with lock, path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            except Exception as err:  # noqa: BLE001 - the row is safe in SQLite regardless
                self.failures += 1
                logger.warning("could not mirror a %s row: %s", kind, err)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


def _warn_if_public(scheduler: Any, repo_id: str, private: bool) -> None:
    """An existing repo keeps its visibility: say so when it is public and should not be."""
    api = getattr(scheduler, "api", None)
    if not private or api is None:
        return
    try:
        if not api.repo_info(repo_id, repo_type="dataset").private:
            logger.warning("the votes repo %s is public; votes are mirrored there as they come, before review "
                           "(make it private, or run with --public-votes to mean it)", repo_id)
    except Exception as err:  # noqa: BLE001 - a check only
        logger.warning("could not check the visibility of %s: %s", repo_id, err)


def from_env(folder: str | Path, *, private: bool = True) -> HubSync | None:
    """A HubSync when CVALUES_VOTES_REPO and a token are set, else None; its repo is created
    private unless ``private`` is False (``--public-votes``)."""
    repo = os.environ.get(REPO_ENV, "").strip()
    if not repo:
        return None
    token = os.environ.get("HF_TOKEN")
    if not token:
        try:
            from huggingface_hub import get_token

            token = get_token()
        except Exception:  # noqa: BLE001
            token = None
    if not token:
        logger.warning("%s is set but no Hugging Face token was found; votes stay local", REPO_ENV)
        return None
    return HubSync(folder, repo, token, private=private)
