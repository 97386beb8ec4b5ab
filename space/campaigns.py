"""Campaigns: model replies waiting for human labels, served by quorum, checked with gold items.

A campaign is the ``replies.jsonl`` of a ``cvalues respond`` run (``cvalues space --campaign
runs/M``), imported into the vote store once: a reply's id is ``core.records.reply_id``, so a
second import of the same file adds nothing. The Label tab then serves, for the criterion asked:

1. **campaign replies first**, the one with the fewest labels first, until each has ``quorum``
   labels from distinct trusted annotators. A reply drawn and not yet labelled counts as one
   label in flight (for ``PENDING_S``), so visitors labelling at the same time spread over the
   replies instead of piling onto one, and a reply whose quorum is in flight is not served
   again (unless a draw expires, or its annotator draws another). No annotator is served the
   same reply twice.
2. **gold items** in a share ``gold_rate`` of those draws: dataset replies whose answer is known
   (``gold_pairs``), drawn at random among those the annotator has not seen, and shown exactly
   like a campaign reply. The model's name, as in the arena, shows only after the label.
3. when no campaign reply is left for this annotator, nothing: the tab falls back to its other
   draws (a stored reply or a fresh generation).

**Trust** follows ``cvalues_build.human.gold``: each annotator's gold answers are counted as
they label, and after ``gold_min`` answers an accuracy below ``gold_threshold`` makes them
untrusted. Their labels stay in the store, stop counting toward any reply's quorum (so those
replies are served again), and are left out of the leaderboard, the ratings and the export.

One Space process owns the store: the counts here are read from it at start and kept up to date
as labels are recorded through ``record``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cvalues_build.core.records import HumanLabel
from cvalues_build.human import GoldItem, is_correct, is_trusted
from cvalues_build.human.gold import GOLD_MIN, GOLD_THRESHOLD
from cvalues_build.human.quorum import DEFAULT_QUORUM

from . import campaign_store as tables
from .campaign_files import CampaignError, read_campaign
from .gold_pairs import GoldRow
from .store import StoredReply, VoteStore

PENDING_S = 300.0  # how long a drawn, unlabelled reply holds its place in the quorum count


@dataclass(frozen=True)
class CampaignSettings:
    """``cvalues space --campaign RUN ... --quorum K --gold-rate R --gold-min N --gold-threshold X``."""

    runs: tuple[Path, ...] = ()
    quorum: int = DEFAULT_QUORUM
    gold_rate: float = 0.1
    gold_min: int = GOLD_MIN
    gold_threshold: float = GOLD_THRESHOLD
    seed: int | None = None  # the draws' random choices (ties, gold); None: unseeded

    def __post_init__(self) -> None:
        if isinstance(self.quorum, bool) or not isinstance(self.quorum, int) or self.quorum < 1:
            raise ValueError(f"--quorum must be a whole number, 1 or more, not {self.quorum!r}")
        if not 0.0 <= self.gold_rate < 1.0:
            raise ValueError(f"--gold-rate must be at least 0 and below 1, not {self.gold_rate!r}")
        if isinstance(self.gold_min, bool) or not isinstance(self.gold_min, int) or self.gold_min < 1:
            raise ValueError(f"--gold-min must be a whole number, 1 or more, not {self.gold_min!r}")
        if not 0.0 <= self.gold_threshold <= 1.0:
            raise ValueError(f"--gold-threshold must be between 0 and 1, not {self.gold_threshold!r}")


@dataclass(frozen=True)
class ImportReport:
    path: Path
    campaign: str
    replies: int  # rows read
    added: int  # new in the store
    empty: int  # empty replies, not imported: there is nothing to label

    def line(self) -> str:
        present = self.replies - self.empty - self.added
        return (f"campaign {self.campaign} ({self.path}): {self.replies} replies, {self.added} added, "
                f"{present} already in the store" + (f", {self.empty} empty left out" if self.empty else ""))


@dataclass
class _Reply:
    criterion: str
    labelled_by: set[str] = field(default_factory=set)
    pending: dict[str, float] = field(default_factory=dict)  # annotator -> when the draw expires


class Campaigns:
    """Assignment and trust over the campaign tables of ``store``."""

    def __init__(self, store: VoteStore, settings: CampaignSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 left_out: Callable[[], set[tuple[str, str]]] = set):
        self.store, self.settings = store, settings or CampaignSettings()
        self._clock = clock
        self._left_out = left_out  # (response_id, annotator) of stored labels that count for nothing
        self._rng = random.Random(self.settings.seed)
        self._lock = threading.Lock()
        tables.create_tables(store)
        self._replies: dict[str, _Reply] = {}
        self._gold: dict[str, GoldItem] = {}
        self._served: dict[str, set[str]] = defaultdict(set)  # annotator -> reply ids drawn for them
        self._open: dict[str, str] = {}  # annotator -> their drawn, unlabelled campaign reply
        self._tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # annotator -> [gold answered, right]
        self._reload()

    def _reload(self) -> None:
        campaign, gold = tables.reply_criteria(self.store)
        with self._lock:
            self._replies = {rid: self._replies.get(rid) or _Reply(c) for rid, c in campaign.items()}
            self._gold = {row["response_id"]: GoldItem(row["response_id"], row["criterion"], row["expected"])
                          for row in tables.gold_answers(self.store)}
            left_out = self._left_out()
            for rid, annotator in tables.labellers(self.store):
                if (rid, annotator) not in left_out:
                    self._replies[rid].labelled_by.add(annotator)
                self._served[annotator].add(rid)
            self._tally.clear()
            for label in tables.gold_labels(self.store):
                self._count_gold(label)

    # -- filling the tables -----------------------------------------------------------------
    def import_runs(self, paths: Sequence[Path]) -> list[ImportReport]:
        """Import each run's ``replies.jsonl``; every file is read and checked before any is stored."""
        read = [read_campaign(path) for path in paths]
        reports = [ImportReport(c.path, c.name, c.rows, tables.add_campaign_replies(self.store, c.name, c.replies),
                                c.empty) for c in read]
        self._reload()
        return reports

    def add_gold(self, rows: Sequence[GoldRow]) -> int:
        """Store gold items (``gold_pairs.gold_rows``); how many were new."""
        added = tables.add_gold_items(self.store, rows)
        self._reload()
        return added

    # -- serving ----------------------------------------------------------------------------
    def draw(self, criterion: str, annotator: str, *, counts: bool = True) -> StoredReply | None:
        """The next reply for ``annotator`` to label (a campaign reply or, at ``gold_rate``, a
        gold item), or None when no campaign reply of ``criterion`` is left for them. The draw of
        an annotator whose labels will not ``count`` (an anonymous one under
        ``--require-login-for-data``) holds no place in any reply's quorum."""
        now = self._clock()
        with self._lock:
            untrusted = self._untrusted()
            self._release(annotator)
            chosen = self._least_labelled(criterion, annotator, untrusted, now)
            if chosen is None:
                return None
            if self._rng.random() < self.settings.gold_rate:
                gold = [rid for rid, item in self._gold.items()
                        if item.criterion == criterion and rid not in self._served[annotator]]
                if gold:
                    chosen = self._rng.choice(gold)
            self._served[annotator].add(chosen)
            if chosen in self._replies and counts and annotator not in untrusted:
                self._replies[chosen].pending[annotator] = now + PENDING_S
                self._open[annotator] = chosen
        return tables.find_reply(self.store, chosen)

    def _least_labelled(self, criterion: str, annotator: str, untrusted: frozenset[str], now: float) -> str | None:
        """The campaign reply of ``criterion`` with the fewest labels (trusted ones, plus draws in
        flight) short of its quorum, among those ``annotator`` was never served; ties at random."""
        served, quorum = self._served[annotator], self.settings.quorum
        best: list[str] = []
        fewest = None
        for rid, reply in self._replies.items():
            if reply.criterion != criterion or rid in served:
                continue
            count = len(reply.labelled_by - untrusted)
            count += sum(1 for a, until in reply.pending.items() if until > now and a not in untrusted)
            if count >= quorum:  # labelled, or will be once the draws in flight come back
                continue
            if fewest is None or count < fewest:
                best, fewest = [rid], count
            elif count == fewest:
                best.append(rid)
        return self._rng.choice(best) if best else None

    def _release(self, annotator: str) -> None:
        """Forget ``annotator``'s earlier unlabelled draw (they moved on): it no longer holds a place."""
        rid = self._open.pop(annotator, None)
        if rid is not None and rid in self._replies:
            self._replies[rid].pending.pop(annotator, None)

    # -- labels and trust -------------------------------------------------------------------
    def record(self, label: HumanLabel, *, counts: bool = True) -> None:
        """Count a stored label: toward its reply's quorum (unless it ``counts`` for nothing), or
        toward its annotator's gold record."""
        with self._lock:
            if label.response_id in self._gold:
                self._count_gold(label)
            reply = self._replies.get(label.response_id)
            if reply is not None:
                if counts:
                    reply.labelled_by.add(label.annotator)
                reply.pending.pop(label.annotator, None)
                if self._open.get(label.annotator) == label.response_id:
                    del self._open[label.annotator]

    def _count_gold(self, label: HumanLabel) -> None:
        tally = self._tally[label.annotator]
        tally[0] += 1
        tally[1] += is_correct(self._gold[label.response_id], label)

    def _untrusted(self) -> frozenset[str]:
        s = self.settings
        return frozenset(a for a, (answered, right) in self._tally.items()
                         if not is_trusted(answered, right, gold_min=s.gold_min, gold_threshold=s.gold_threshold))

    def untrusted(self) -> frozenset[str]:
        """Annotators whose gold record makes them untrusted now."""
        with self._lock:
            return self._untrusted()

    def gold(self) -> dict[str, GoldItem]:
        """``{response_id: GoldItem}`` of every gold item."""
        with self._lock:
            return dict(self._gold)

    def progress(self) -> dict[str, int]:
        """Campaign replies, those at quorum (trusted labels), and gold items."""
        with self._lock:
            untrusted = self._untrusted()
            done = sum(len(r.labelled_by - untrusted) >= self.settings.quorum for r in self._replies.values())
            return {"replies": len(self._replies), "at_quorum": done, "gold_items": len(self._gold)}


__all__ = ["CampaignError", "CampaignSettings", "Campaigns", "ImportReport", "PENDING_S"]
