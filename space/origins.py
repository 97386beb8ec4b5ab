"""Where each vote and label came from, and whether it counts: the ``vote_origins`` table.

It sits in the vote store beside ``battles`` and ``labels`` (whose rows and published columns it
never changes), is created here with ``CREATE TABLE IF NOT EXISTS`` and written through the
store's own write path. One row per stored battle or label, written just before the vote
itself, so that every vote written from now on has one:

- ``session``, ``client``: salted hashes of the Gradio session and of the client address
  (``clients.py``); never the address itself. ``logged_in``: whether the annotator was a
  Hugging Face account.
- ``visitor_prompt``: the visitor typed the prompt. Such votes stay out of the export unless
  ``cvalues votes export --with-visitor-prompts`` asks for them (for review).
- ``excluded``: why the vote counts toward nothing ('' when it counts), decided when it was cast:
  ``identity:<names>`` when a reply of the battle names a model or its maker (``identity.py``),
  ``anonymous`` when the Space ran with ``--require-login-for-data`` and the visitor was not
  logged in. Excluded votes are kept, and left out of the ratings, the aggregates and the export.

Votes stored before this table existed have no row: they count, under their session annotator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import Battle, HumanLabel

from .clients import Visitor
from .identity import IdentityFilter
from .store import VoteStore, utc_now

TABLE = "vote_origins"
BATTLE, LABEL = "battle", "label"
ANONYMOUS = "anonymous"
KEY_SEPARATOR = "\x1f"  # a label's record key: response id, then annotator
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    kind TEXT NOT NULL CHECK (kind IN ('{BATTLE}', '{LABEL}')),
    record TEXT NOT NULL,
    session TEXT NOT NULL,
    client TEXT NOT NULL,
    logged_in INTEGER NOT NULL,
    visitor_prompt INTEGER NOT NULL,
    excluded TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, record)
);
"""


@dataclass(frozen=True)
class Origin:
    session: str
    client: str
    logged_in: bool
    visitor_prompt: bool
    excluded: str

    @property
    def counts(self) -> bool:
        return not self.excluded

    @property
    def voter(self) -> str | None:
        """Who a quorum counts this vote as, when not its stored annotator: an anonymous vote is
        its client address, so that sessions invented by one client count once."""
        return None if self.logged_in else self.client


def label_key(label: HumanLabel) -> str:
    """A label's record key: the store allows one label per reply and annotator."""
    return f"{label.response_id}{KEY_SEPARATOR}{label.annotator}"


def is_visitor_prompt(record: Battle | HumanLabel | dict) -> bool:
    """Whether a visitor typed the record's (or row's) prompt: the only prompts without a scenario
    or domain (``prompts.visitor_prompt``); dataset and campaign prompts always have one."""
    category = record.get("category") if isinstance(record, dict) else record.category
    return (category or tx.UNSPECIFIED) == tx.UNSPECIFIED


def create_table(store: VoteStore) -> None:
    with store._write_lock:
        store._conn().executescript(_SCHEMA)  # autocommit: the statement is its own transaction


def has_table(store: VoteStore) -> bool:
    row = store._conn().execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone()
    return row is not None


def read_origins(store: VoteStore) -> dict[tuple[str, str], Origin]:
    """``{(kind, record key): Origin}`` of every vote that has one (none in an older store)."""
    if not has_table(store):
        return {}
    rows = store._conn().execute(f"SELECT kind, record, session, client, logged_in, visitor_prompt, excluded "
                                 f"FROM {TABLE}")
    return {(r[0], r[1]): Origin(r[2], r[3], bool(r[4]), bool(r[5]), r[6]) for r in rows}


class Provenance:
    """Writes each vote's origin, and applies the rules that follow from it."""

    def __init__(self, store: VoteStore, identity: IdentityFilter | None = None, *, require_login: bool = False):
        self.store = store
        self.identity = identity or IdentityFilter()
        self.require_login = require_login
        create_table(store)

    def counts(self, visitor: Visitor) -> bool:
        """Whether ``visitor``'s votes and labels may count at all (the login rule)."""
        return visitor.logged_in or not self.require_login

    def labels_left_out(self) -> set[tuple[str, str]]:
        """``(response_id, annotator)`` of every stored label whose origin makes it count for nothing."""
        return {tuple(record.split(KEY_SEPARATOR, 1)) for (kind, record), origin in read_origins(self.store).items()
                if kind == LABEL and not origin.counts}

    def _write(self, kind: str, record: str, visitor: Visitor, visitor_prompt: bool, excluded: list[str]) -> None:
        if not self.counts(visitor):
            excluded.append(ANONYMOUS)
        # Through the store's own write path (the votes' group commit): durable when this returns.
        self.store._write(f"INSERT OR IGNORE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (kind, record, visitor.session, visitor.client, int(visitor.logged_in),
                           int(visitor_prompt), ";".join(excluded), utc_now()))

    def battle_hook(self, visitor: Visitor) -> Callable[[Battle], None]:
        """What ``Arena.vote`` calls with the record before storing it."""
        def write(battle: Battle) -> None:
            names = self.identity.battle_names(battle.reply_a, battle.reply_b)
            self._write(BATTLE, battle.battle_id, visitor, is_visitor_prompt(battle),
                        [f"identity:{','.join(names)}"] if names else [])
        return write

    def label_hook(self, visitor: Visitor) -> Callable[[HumanLabel], None]:
        """What ``Arena.label`` calls with the record before storing it."""
        def write(label: HumanLabel) -> None:
            self._write(LABEL, label_key(label), visitor, is_visitor_prompt(label), [])
        return write

    def counted(self, battles: Sequence[Battle], labels: Sequence[HumanLabel]) -> tuple[list[Battle], list[HumanLabel]]:
        """The battles and labels that count toward the ratings and aggregates."""
        origins = read_origins(self.store)
        return counted(battles, labels, origins)


def counted(battles: Sequence[Battle], labels: Sequence[HumanLabel],
            origins: dict[tuple[str, str], Origin]) -> tuple[list[Battle], list[HumanLabel]]:
    """``battles`` and ``labels`` less those their origin excludes."""
    def keeps(kind: str, key: str) -> bool:
        origin = origins.get((kind, key))
        return origin is None or origin.counts

    return ([b for b in battles if keeps(BATTLE, b.battle_id)],
            [lab for lab in labels if keeps(LABEL, label_key(lab))])


@dataclass
class Screened:
    """A store's votes as the export writes them (see ``screen``)."""

    labels: list[HumanLabel]
    battles: list[Battle]
    review: list[dict]  # votes and labels on visitor-typed prompts, for review only
    excluded: int  # votes left out by their origin (identity filter, login required)


def screen(labels: Sequence[HumanLabel], battles: Sequence[Battle],
           origins: dict[tuple[str, str], Origin]) -> Screened:
    """What of the store may feed the dataset: excluded votes are left out; votes on prompts a
    visitor typed go to ``review`` only; an anonymous vote's annotator becomes its client key,
    so that sessions invented by one client count once toward a quorum and a gold record."""
    kept_battles, kept_labels = counted(battles, labels, origins)
    out = Screened([], [], [], len(battles) + len(labels) - len(kept_battles) - len(kept_labels))
    for kind, records, target in ((BATTLE, kept_battles, out.battles), (LABEL, kept_labels, out.labels)):
        for rec in records:
            origin = origins.get((kind, rec.battle_id if kind == BATTLE else label_key(rec)))
            if origin is not None and origin.voter is not None:
                rec = replace(rec, annotator=origin.voter)
            if is_visitor_prompt(rec) or (origin is not None and origin.visitor_prompt):
                out.review.append({"kind": kind, **rec.to_row()})
            else:
                target.append(rec)
    return out
