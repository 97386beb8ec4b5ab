"""The durable vote store: SQLite in WAL mode, ``synchronous=FULL``, votes committed in groups.

Three tables follow the SPEC's records: ``battles`` (arena votes), ``labels`` (single-reply
labels) and ``replies`` (every finished generation, the pool the label tab can draw from).
Annotators are salted hashes of the Gradio session; raw IPs are never stored.

Why group commit: a FULL commit waits for an fsync, and one per vote makes 50 concurrent voters
wait for 50 fsyncs. One writer thread commits whatever votes are queued in one transaction and
answers each caller once it is durable (group_commit.py). Other writers (schema creation, campaign
imports) take turns with it on a FIFO Python lock rather than in SQLite's busy handler, whose
growing back-off ruins the tail; ``busy_timeout`` still covers other processes.

Why checkpoints run on their own thread: SQLite's automatic WAL checkpoint runs inside the commit
that crosses the threshold, so one vote in a few hundred pays for copying the whole WAL back (tens
of ms, with every queued writer waiting behind it). Here commits never checkpoint; a background
thread runs a PASSIVE checkpoint, which does not block writers, every CHECKPOINT_EVERY commits.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cvalues_build.core.records import WINNERS, Battle, HumanLabel, reply_id
from cvalues_build.core.schema import BATTLE_COLUMNS, LABEL_COLUMNS, sql_columns

from .fairlock import FairLock
from .group_commit import GroupCommitter

SCHEMA_VERSION = 1
CHECKPOINT_EVERY = 100  # votes committed between background WAL checkpoints
STORE_TABLES = ("meta", "replies", "battles", "labels")
SCORE_RANGE = (1, 10)  # a responsibility score, as the paper's experts give it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replies (
    reply_id TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    criterion TEXT NOT NULL,
    category TEXT NOT NULL,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS battles (
    {battle_columns},
    PRIMARY KEY (battle_id),
    CHECK (winner IN ({winners})),
    CHECK (model_a <> model_b)
);
CREATE TABLE IF NOT EXISTS labels (
    label_id INTEGER PRIMARY KEY AUTOINCREMENT,
    {label_columns},
    reason TEXT NOT NULL DEFAULT '',
    CHECK (score IS NULL OR score BETWEEN {lowest} AND {highest}),
    UNIQUE (response_id, annotator)
);
CREATE INDEX IF NOT EXISTS replies_criterion ON replies (criterion);
""".format(  # the battles' and labels' columns are the records' (core/schema.py), as are the winners
    battle_columns=sql_columns(BATTLE_COLUMNS), label_columns=sql_columns(LABEL_COLUMNS),
    winners=", ".join(f"'{w}'" for w in WINNERS), lowest=SCORE_RANGE[0], highest=SCORE_RANGE[1],
)
_BATTLE_FIELDS = tuple(c.name for c in BATTLE_COLUMNS)
_LABEL_FIELDS = tuple(c.name for c in LABEL_COLUMNS)


class StoreError(RuntimeError):
    """The database file cannot be used as a vote store: damaged, or not a vote store at all."""


def _damaged(path: Path, detail: str) -> str:
    recovered = path.with_name(path.stem + ".recovered" + path.suffix)
    return (f"{path} is damaged (SQLite's quick_check: {detail}); refusing to open it, nothing was changed. "
            f"To recover the rows SQLite can still read: sqlite3 {path} \".recover\" | sqlite3 {recovered} "
            f"and start with --db {recovered}; or restore the votes from the Hub sync copy "
            "(the votes/ folder of $CVALUES_VOTES_REPO).")


class DuplicateVote(ValueError):
    """The battle (or this annotator's label of this reply) is already stored."""


def checked_score(score: object) -> int:
    """A responsibility score as stored: a whole number from 1 to 10. Anything else is a ValueError,
    so that 5.9 is never kept as 5 and ``True`` never as 1."""
    lowest, highest = SCORE_RANGE
    if (isinstance(score, bool) or not isinstance(score, int | float) or not float(score).is_integer()
            or not lowest <= score <= highest):
        raise ValueError(f"score must be a whole number from {lowest} to {highest}, not {score!r}")
    return int(score)


def utc_now() -> str:
    """ISO-8601 UTC timestamp with milliseconds, the format of every ``created_at``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class StoredReply:
    reply_id: str
    prompt_id: str
    prompt: str
    criterion: str
    category: str
    model: str
    reply: str


class VoteStore:
    """Thread-safe access to the SQLite vote database at ``path``.

    ``synchronous`` is FULL by default: a vote is acknowledged once its commit is fsynced, so it
    survives a power cut as well as the process being killed. NORMAL survives the process being
    killed, but a power cut can lose the last commits.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", salt: str | None = None,
                 read_only: bool = False):
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.is_file():
            raise FileNotFoundError(f"no vote database at {self.path}")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._write_lock = FairLock()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._commits = 0
        self._closing = False
        self._checkpoint_due = threading.Event()
        self._committer = GroupCommitter(self._conn, self._write_lock, self._count_commits)
        self._check_file()
        if read_only:
            self._salt = ""  # a read-only store never hashes a new session
            return
        conn = self._conn()
        with self._write_lock:
            conn.executescript(_SCHEMA)  # autocommit mode: each statement is its own transaction
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            # The salt lives in the database so that annotator hashes stay stable across restarts.
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(16),))
        self._salt = salt or os.environ.get("CVALUES_ANNOTATOR_SALT") or self._meta("salt")
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="cvalues-wal-checkpoint",
                                              daemon=True)
        self._checkpointer.start()

    def _check_file(self) -> None:
        """Refuse, before anything is written, a damaged file or a database that is not a vote
        store: SQLite would serve reads from a damaged file, and creating our tables in someone
        else's database would change a file we were never meant to touch."""
        if not self.read_only and (not self.path.exists() or self.path.stat().st_size == 0):
            return  # a new store
        try:
            conn = self._conn()
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            self.close()
            if "not a database" in str(err):
                raise StoreError(f"{self.path} is not a cvalues vote store (not an SQLite database)") from err
            raise StoreError(_damaged(self.path, str(err))) from err
        if problems != ["ok"]:
            self.close()
            raise StoreError(_damaged(self.path, "; ".join(problems[:3])))
        missing = sorted(set(STORE_TABLES) - tables)
        if missing:
            self.close()
            raise StoreError(f"{self.path} is not a cvalues vote store (it has no {', '.join(missing)} "
                             "table); nothing was changed")

    # -- connections -------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per vote.
            if self.read_only:  # mode=ro: SQLite itself refuses every write through this connection
                uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout=30000")
            else:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA wal_autocheckpoint=0")  # see the module docstring
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """One statement in the next group's transaction; returns once that is durable."""
        self._committer.execute(sql, params)

    def _count_commits(self, writes: int) -> None:
        self._commits += writes
        if self._commits // CHECKPOINT_EVERY != (self._commits - writes) // CHECKPOINT_EVERY:
            self._checkpoint_due.set()

    def _checkpoint_loop(self) -> None:
        while not self._closing:
            self._checkpoint_due.wait(timeout=60.0)
            self._checkpoint_due.clear()
            if self._closing:
                return
            try:
                self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                pass  # a busy or closed database: the next round (or the next open) checkpoints

    def close(self) -> None:
        """Commit the queued votes, checkpoint, then close every connection this store opened."""
        self._committer.close()
        self._closing = True
        self._checkpoint_due.set()
        checkpointer = getattr(self, "_checkpointer", None)
        if checkpointer is not None:
            checkpointer.join(timeout=10)
            try:
                with self._write_lock:
                    self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                pass
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    def _meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # -- identities --------------------------------------------------------------------------
    def annotator_id(self, session: str) -> str:
        """A salted hash of a session id: stable per session, not reversible, never an IP."""
        return hmac.new(self._salt.encode(), session.encode("utf-8"), hashlib.sha256).hexdigest()[:20]

    # -- writes ------------------------------------------------------------------------------
    def add_battle(self, battle: Battle) -> None:
        """Store one vote in its own transaction; a second vote on the battle raises DuplicateVote."""
        if battle.winner not in WINNERS:
            raise ValueError(f"winner must be one of {WINNERS}, not {battle.winner!r}")
        row = battle.to_row()
        row["anonymous"] = int(bool(row["anonymous"]))
        sql = f"INSERT INTO battles ({', '.join(_BATTLE_FIELDS)}) VALUES ({', '.join('?' * len(_BATTLE_FIELDS))})"
        try:
            self._write(sql, tuple(row[f] for f in _BATTLE_FIELDS))
        except sqlite3.IntegrityError as err:
            if "UNIQUE" in str(err) or "PRIMARY KEY" in str(err):
                raise DuplicateVote(f"battle {battle.battle_id} already has a vote") from err
            raise ValueError(f"battle {battle.battle_id} rejected by the store: {err}") from err

    def add_label(self, label: HumanLabel, reason: str = "") -> None:
        """Store one label; the same annotator labelling the same reply twice raises DuplicateVote."""
        if (label.safe is None) == (label.score is None):
            raise ValueError("a label has either `safe` (safety) or `score` (responsibility), not both or neither")
        if label.score is not None:
            checked_score(label.score)
        row = label.to_row()
        row["safe"] = None if row["safe"] is None else int(bool(row["safe"]))
        fields = _LABEL_FIELDS + ("reason",)
        sql = f"INSERT INTO labels ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})"
        try:
            self._write(sql, tuple(row[f] for f in _LABEL_FIELDS) + (reason,))
        except sqlite3.IntegrityError as err:
            raise DuplicateVote(f"reply {label.response_id} already labelled by this session") from err

    def add_reply(self, *, prompt_id: str, prompt: str, criterion: str, category: str, model: str,
                  reply: str) -> str:
        """Keep a finished generation for the label pool; returns its content id."""
        key = reply_id(prompt_id, model, reply)
        self._write(
            "INSERT OR IGNORE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, prompt_id, prompt, criterion, category, model, reply, utc_now()),
        )
        return key

    # -- reads -------------------------------------------------------------------------------
    def battles(self) -> list[Battle]:
        rows = self._conn().execute(f"SELECT {', '.join(_BATTLE_FIELDS)} FROM battles ORDER BY created_at, battle_id")
        return [Battle(**{**dict(r), "anonymous": bool(r["anonymous"])}) for r in rows]

    def labels(self) -> list[HumanLabel]:
        rows = self._conn().execute(f"SELECT {', '.join(_LABEL_FIELDS)} FROM labels ORDER BY label_id")
        return [
            HumanLabel(**{**dict(r), "safe": None if r["safe"] is None else bool(r["safe"])}) for r in rows
        ]

    def counts(self) -> dict[str, int]:
        conn = self._conn()
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("battles", "labels", "replies")}

    def random_reply(self, criterion: str) -> StoredReply | None:
        """A stored reply of one criterion, uniformly at random (None when the pool is empty). Replies
        to prompts a visitor typed (category 'unspecified', kept by stores before the arena stopped
        pooling them) are never drawn: one visitor's text is not shown to another."""
        row = self._conn().execute(
            "SELECT reply_id, prompt_id, prompt, criterion, category, model, reply FROM replies "
            "WHERE criterion = ? AND category <> 'unspecified' ORDER BY RANDOM() LIMIT 1",
            (criterion,),
        ).fetchone()
        return StoredReply(**dict(row)) if row else None

    def integrity_check(self) -> str:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]
