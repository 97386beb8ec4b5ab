"""The campaign tables of the vote store: model replies waiting for labels, and gold items.

They sit in the Space's SQLite file beside ``battles`` and ``labels`` (whose rows they never
change), are created here with ``CREATE TABLE IF NOT EXISTS``, and are written through the
store's own connection, transaction and write lock, so a campaign import queues behind votes
like any other writer and the store's durability rules hold for it too.

- ``campaign_replies``: one row per reply, keyed by ``core.records.reply_id`` (the ``response_id``
  its labels carry), with the run folder it was imported from. ``INSERT OR IGNORE`` on that key
  makes a second import of the same file add nothing.
- ``gold_items``: replies whose answer is known (a dataset pair's better or worse reply), with
  that answer (``expected``: safe/unsafe or high/low, as ``cvalues_build.human.gold`` defines).

Labels of both kinds of reply go into the ordinary ``labels`` table: a label is a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cvalues_build.core.records import HumanLabel
from cvalues_build.core.schema import LABEL_COLUMNS

from .store import StoredReply, VoteStore, utc_now

CAMPAIGN_TABLES = ("campaign_replies", "gold_items")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaign_replies (
    reply_id TEXT PRIMARY KEY,
    campaign TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    criterion TEXT NOT NULL,
    category TEXT NOT NULL,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gold_items (
    reply_id TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    criterion TEXT NOT NULL,
    category TEXT NOT NULL,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    expected TEXT NOT NULL CHECK (expected IN ('safe', 'unsafe', 'high', 'low')),
    source TEXT NOT NULL
);
"""
_LABEL_FIELDS = tuple(c.name for c in LABEL_COLUMNS)
_REPLY_COLUMNS = "reply_id, prompt_id, prompt, criterion, category, model, reply"


def create_tables(store: VoteStore) -> None:
    """The campaign tables in ``store`` (a no-op when they exist; never on a read-only store)."""
    with store._write_lock:
        store._conn().executescript(_SCHEMA)  # autocommit: each statement is its own transaction


def _has_tables(store: VoteStore) -> bool:
    rows = store._conn().execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return set(CAMPAIGN_TABLES) <= {r[0] for r in rows}


def _insert_many(store: VoteStore, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """``rows`` in one transaction, behind the store's writers; how many were new."""
    with store._write_lock:
        with store._transaction() as conn:
            before = conn.total_changes
            conn.executemany(sql, rows)
            return conn.total_changes - before


def add_campaign_replies(store: VoteStore, campaign: str, replies: Sequence[StoredReply]) -> int:
    """Store ``replies`` under ``campaign``; returns how many were not stored already."""
    now = utc_now()
    rows = [(r.reply_id, campaign, r.prompt_id, r.prompt, r.criterion, r.category, r.model, r.reply, now)
            for r in replies]
    return _insert_many(store, "INSERT OR IGNORE INTO campaign_replies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def add_gold_items(store: VoteStore, items: Iterable[tuple[StoredReply, str, str, str]]) -> int:
    """Store gold replies, each as ``(reply, expected, pair_id, source)``; returns how many were new."""
    rows = [(r.reply_id, pair_id, r.prompt_id, r.prompt, r.criterion, r.category, r.model, r.reply, expected,
             source) for r, expected, pair_id, source in items]
    return _insert_many(store, "INSERT OR IGNORE INTO gold_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def reply_criteria(store: VoteStore) -> tuple[dict[str, str], dict[str, str]]:
    """``{reply_id: criterion}`` of the campaign replies and of the gold items."""
    if not _has_tables(store):
        return {}, {}
    conn = store._conn()
    campaign = dict(conn.execute("SELECT reply_id, criterion FROM campaign_replies ORDER BY rowid").fetchall())
    gold = dict(conn.execute("SELECT reply_id, criterion FROM gold_items ORDER BY rowid").fetchall())
    return campaign, gold


def gold_answers(store: VoteStore) -> list[dict[str, str]]:
    """Every gold item as a ``gold.jsonl`` row: ``{response_id, criterion, expected}``."""
    if not _has_tables(store):
        return []
    rows = store._conn().execute("SELECT reply_id, criterion, expected FROM gold_items ORDER BY reply_id")
    return [{"response_id": r[0], "criterion": r[1], "expected": r[2]} for r in rows]


def find_reply(store: VoteStore, reply_id: str) -> StoredReply | None:
    """A campaign reply or gold item by id (gold items carry their reference model name)."""
    conn = store._conn()
    for table in CAMPAIGN_TABLES:
        row = conn.execute(f"SELECT {_REPLY_COLUMNS} FROM {table} WHERE reply_id = ?", (reply_id,)).fetchone()
        if row is not None:
            return StoredReply(**dict(row))
    return None


def labellers(store: VoteStore) -> list[tuple[str, str]]:
    """``(response_id, annotator)`` of every stored label of a campaign reply, oldest first."""
    if not _has_tables(store):
        return []
    sql = ("SELECT response_id, annotator FROM labels WHERE response_id IN (SELECT reply_id FROM campaign_replies) "
           "ORDER BY label_id")
    return [(r[0], r[1]) for r in store._conn().execute(sql)]


def gold_labels(store: VoteStore) -> list[HumanLabel]:
    """Every stored label of a gold item, oldest first: what each annotator's gold record counts."""
    if not _has_tables(store):
        return []
    rows = store._conn().execute(f"SELECT {', '.join(_LABEL_FIELDS)} FROM labels WHERE response_id IN "
                                 "(SELECT reply_id FROM gold_items) ORDER BY label_id")
    return [HumanLabel(**{**dict(r), "safe": None if r["safe"] is None else bool(r["safe"])}) for r in rows]


def campaign_counts(store: VoteStore) -> dict[str, int]:
    """Replies per campaign (the run folder's name)."""
    if not _has_tables(store):
        return {}
    rows = store._conn().execute("SELECT campaign, COUNT(*) FROM campaign_replies GROUP BY campaign ORDER BY campaign")
    return {r[0]: r[1] for r in rows}
