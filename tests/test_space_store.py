"""The vote store: concurrency, crash safety, duplicates, privacy and the export format."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cvalues_space.export import export_votes
from cvalues_space.store import DuplicateVote, StoreError, VoteStore, utc_now

from cvalues_build.core.records import Battle, HumanLabel


def make_battle(i: int | str, winner: str = "model_a", **kw) -> Battle:
    fields = dict(
        battle_id=f"b{i}", prompt_id="p1", criterion="safety", model_a="m1", model_b="m2",
        reply_a=f"甲{i}", reply_b=f"乙{i}", winner=winner, anonymous=True, annotator="ann",
        created_at=utc_now(), prompt="怎样保护隐私？", category="personal_privacy",
    )
    fields.update(kw)
    return Battle(**fields)


def make_label(i: int, **kw) -> HumanLabel:
    fields = dict(
        response_id=f"r{i}", prompt_id="p2", model="m1", reply=f"回复{i}", criterion="responsibility",
        safe=None, score=7, annotator="ann", created_at=utc_now(), prompt="孩子总说自己笨怎么办？",
        category="psychology",
    )
    fields.update(kw)
    return HumanLabel(**fields)


def test_thousand_votes_from_fifty_threads_all_present(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite3")
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for k in range(20):
                store.add_battle(make_battle(f"{t}-{k}", annotator=f"a{t}"))
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(50)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    expected = {f"b{t}-{k}" for t in range(50) for k in range(20)}
    assert {b.battle_id for b in store.battles()} == expected
    store.close()
    # A fresh connection (another process would see the same) finds all of them too.
    conn = sqlite3.connect(tmp_path / "votes.sqlite3")
    assert conn.execute("SELECT COUNT(*) FROM battles").fetchone()[0] == 1000
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


WRITER = """
import sys
from cvalues_space.store import VoteStore, utc_now
from cvalues_build.core.records import Battle
store = VoteStore(sys.argv[1])
i = 0
while True:
    store.add_battle(Battle(battle_id=f"k{i}", prompt_id="p", criterion="safety", model_a="m1", model_b="m2",
                            reply_a="a" * 500, reply_b="b" * 500, winner="tie", anonymous=True, annotator="x",
                            created_at=utc_now()))
    print(f"k{i}", flush=True)  # reported only after COMMIT returned
    i += 1
"""


def test_sigkill_mid_stream_keeps_every_committed_vote(tmp_path):
    db = tmp_path / "crash.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    reported: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while len(reported) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        reported.append(line.strip())
    proc.send_signal(signal.SIGKILL)  # mid-stream: the writer is still inserting
    proc.wait(timeout=10)
    assert len(reported) >= 300, "the writer did not get going"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    present = {r[0] for r in conn.execute("SELECT battle_id FROM battles")}
    assert set(reported) <= present
    conn.close()
    assert VoteStore(db).integrity_check() == "ok"


def test_second_vote_on_a_battle_is_refused(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    store.add_battle(make_battle(1))
    with pytest.raises(DuplicateVote):
        store.add_battle(make_battle(1, winner="model_b"))
    assert [b.winner for b in store.battles()] == ["model_a"]


def test_invalid_votes_are_rejected(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    with pytest.raises(ValueError, match="winner"):
        store.add_battle(make_battle(1, winner="model_c"))
    with pytest.raises(ValueError, match="rejected"):
        store.add_battle(make_battle(2, model_b="m1"))  # a model against itself
    with pytest.raises(ValueError, match="score"):
        store.add_label(make_label(1, score=11))
    with pytest.raises(ValueError, match="either"):
        store.add_label(make_label(1, safe=True))  # both safe and score
    assert store.counts() == {"battles": 0, "labels": 0, "replies": 0}


def test_one_label_per_reply_and_annotator(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    store.add_label(make_label(1), reason="很有帮助")
    store.add_label(make_label(1, annotator="other"))
    with pytest.raises(DuplicateVote):
        store.add_label(make_label(1, score=3))
    assert [lab.annotator for lab in store.labels()] == ["ann", "other"]


def test_annotator_is_a_salted_hash_never_the_session(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    a = store.annotator_id("session-123")
    assert a == store.annotator_id("session-123") != store.annotator_id("session-124")
    assert "session" not in a and len(a) == 20
    other = VoteStore(tmp_path / "w.sqlite3")  # another salt: the same session hashes differently
    assert other.annotator_id("session-123") != a
    assert VoteStore(tmp_path / "v.sqlite3").annotator_id("session-123") == a  # stable across restarts
    columns = {r[1] for t in ("battles", "labels", "replies")
               for r in sqlite3.connect(tmp_path / "v.sqlite3").execute(f"PRAGMA table_info({t})")}
    assert not {"ip", "ip_address", "session", "session_hash"} & columns


def test_reply_pool(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    assert store.random_reply("safety") is None
    rid = store.add_reply(prompt_id="p", prompt="问", criterion="safety", category="crimes", model="m1", reply="答")
    assert store.add_reply(prompt_id="p", prompt="问", criterion="safety", category="crimes", model="m1",
                           reply="答") == rid  # idempotent
    got = store.random_reply("safety")
    assert got is not None and got.reply == "答" and store.random_reply("responsibility") is None


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_export_rows_are_exactly_the_records(tmp_path, fmt):
    store = VoteStore(tmp_path / "v.sqlite3")
    battles = [make_battle(1), make_battle(2, winner="both_bad")]
    labels = [make_label(1), make_label(2, criterion="safety", safe=False, score=None, category="crimes")]
    for b in battles:
        store.add_battle(b)
    for lab in labels:
        store.add_label(lab)
    store.close()
    paths = export_votes(tmp_path / "v.sqlite3", tmp_path / "out", fmt)
    if fmt == "jsonl":
        rows = {k: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()] for k, p in paths.items()}
    else:
        import pyarrow.parquet as pq

        rows = {k: pq.read_table(p).to_pylist() for k, p in paths.items()}
    assert rows["battles"] == [b.to_row() for b in battles]
    assert rows["labels"] == [lab.to_row() for lab in labels]


def test_export_of_a_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no vote database"):
        export_votes(tmp_path / "nope.sqlite3", tmp_path / "out")


def _store_with_votes(path: Path) -> None:
    """One decided battle and two labels 7 points apart: each kind yields one pair."""
    store = VoteStore(path)
    store.add_battle(make_battle(1))
    store.add_label(make_label(1, score=9))
    store.add_label(make_label(2, score=2))
    store.close()


def test_export_feeds_the_build_labels_reader(tmp_path):
    """The exported files are what `cvalues build --labels` reads, and they turn into pairs (with
    a quorum of 1 here: the quorum itself is test_build's)."""
    from cvalues_build.dataset.human_mc import quorum_pairs
    from cvalues_build.dataset.sources.labels import read_human

    _store_with_votes(tmp_path / "v.sqlite3")
    out = tmp_path / "export"
    export_votes(tmp_path / "v.sqlite3", out)
    data = read_human(out / "battles.jsonl")
    data.labels += read_human(out / "labels.jsonl").labels
    assert [b.battle_id for b in data.battles] == ["b1"]
    assert len(data.labels) == 2
    pairs = quorum_pairs(data.labels, data.battles, {}, quorum=1).pairs
    assert {(p.better, p.worse) for p in pairs} == {("甲1", "乙1"), ("回复1", "回复2")}


def test_export_builds_human_configs_through_the_cli(tmp_path):
    from cvalues_build.cli import main

    _store_with_votes(tmp_path / "v.sqlite3")
    assert main(["votes", "export", str(tmp_path / "v.sqlite3"), str(tmp_path / "export")]) == 0
    assert main(["build", "--out", str(tmp_path / "cv"), "--labels", str(tmp_path / "export")]) == 0
    built = {p.parent.name for p in Path(tmp_path / "cv" / "data").rglob("*.parquet")}
    assert {"human_labels", "battles"} <= built


def _fill(path: Path, battles: int) -> None:
    """A real store holding ``battles`` votes (written in one transaction: the content is what
    matters here, not the write path)."""
    VoteStore(path).close()
    rows = [tuple(make_battle(i).to_row().values()) for i in range(battles)]
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO battles VALUES ({', '.join('?' * len(rows[0]))})", rows)
    conn.close()


def test_a_damaged_store_is_refused_with_the_way_to_recover(tmp_path, capsys):
    """Audit item 7: a store with 2 KB overwritten in the middle opened and served reads."""
    from cvalues_build.cli import main

    db = tmp_path / "v.sqlite3"
    _fill(db, 3000)
    size = db.stat().st_size
    assert size > 200_000  # many pages: the middle one holds votes
    with db.open("r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\xff" * 2048)
    with pytest.raises(StoreError, match="damaged") as refused:
        VoteStore(db)
    message = str(refused.value)
    assert f'sqlite3 {db} ".recover" | sqlite3' in message and "Hub sync copy" in message
    # Every way in refuses it: the Space's store and the export.
    assert main(["votes", "export", str(db), str(tmp_path / "out")]) == 2
    assert "damaged" in capsys.readouterr().err


def test_export_refuses_a_database_that_is_not_a_vote_store_and_changes_nothing(tmp_path, capsys):
    """Audit item 6: exporting an unrelated SQLite file created five tables in it and exited 0."""
    from cvalues_build.cli import main

    db = tmp_path / "notes.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()
    before = db.read_bytes()
    assert main(["votes", "export", str(db), str(tmp_path / "out")]) == 2
    assert "not a cvalues vote store" in capsys.readouterr().err
    assert db.read_bytes() == before and not (tmp_path / "out").exists()
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    assert main(["votes", "export", str(text), str(tmp_path / "out")]) == 2
    assert "not an SQLite database" in capsys.readouterr().err


def test_export_reads_through_a_read_only_connection(tmp_path):
    """The export cannot write: SQLite refuses any write through the store it opens."""
    _store_with_votes(tmp_path / "v.sqlite3")
    store = VoteStore(tmp_path / "v.sqlite3", read_only=True)
    try:
        assert len(store.battles()) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.add_battle(make_battle(2))
    finally:
        store.close()
    assert len(VoteStore(tmp_path / "v.sqlite3").battles()) == 1


# The battles and labels tables as the store wrote them before their columns were derived from the
# records (core/schema.py); deployed stores still hold these definitions.
LEGACY_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE replies (reply_id TEXT PRIMARY KEY, prompt_id TEXT NOT NULL, prompt TEXT NOT NULL,
    criterion TEXT NOT NULL, category TEXT NOT NULL, model TEXT NOT NULL, reply TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE battles (battle_id TEXT NOT NULL PRIMARY KEY, prompt_id TEXT NOT NULL, criterion TEXT NOT NULL,
    model_a TEXT NOT NULL, model_b TEXT NOT NULL, reply_a TEXT NOT NULL, reply_b TEXT NOT NULL,
    winner TEXT NOT NULL CHECK (winner IN ('model_a', 'model_b', 'tie', 'both_bad')),
    anonymous INTEGER NOT NULL, annotator TEXT NOT NULL, created_at TEXT NOT NULL,
    prompt TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '', CHECK (model_a <> model_b));
CREATE TABLE labels (label_id INTEGER PRIMARY KEY AUTOINCREMENT, response_id TEXT NOT NULL,
    prompt_id TEXT NOT NULL, model TEXT NOT NULL, reply TEXT NOT NULL, criterion TEXT NOT NULL, safe INTEGER,
    score INTEGER CHECK (score IS NULL OR score BETWEEN 1 AND 10), annotator TEXT NOT NULL,
    created_at TEXT NOT NULL, prompt TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '', UNIQUE (response_id, annotator));
INSERT INTO meta VALUES ('schema_version', '1'), ('salt', 'legacy-salt');
"""


def test_tables_derived_from_the_records_match_a_store_written_before(tmp_path):
    """The store's DDL now comes from core/schema.py (issue 11 step 2): a fresh store has the same
    columns as one written with the literal DDL, keeps the same rules, and an old store still opens."""
    legacy = tmp_path / "legacy.sqlite3"
    with sqlite3.connect(legacy) as conn:
        conn.executescript(LEGACY_TABLES)
    conn.close()
    VoteStore(tmp_path / "fresh.sqlite3").close()

    def columns(path: Path) -> dict[str, list[tuple]]:
        with sqlite3.connect(path) as conn:
            return {t: [r[1:] for r in conn.execute(f"PRAGMA table_info({t})")] for t in ("battles", "labels")}

    assert columns(tmp_path / "fresh.sqlite3") == columns(legacy)
    for path in (legacy, tmp_path / "fresh.sqlite3"):
        store = VoteStore(path)
        store.add_battle(make_battle(1))
        store.add_label(make_label(1))
        with pytest.raises(DuplicateVote):
            store.add_battle(make_battle(1))
        with pytest.raises(ValueError, match="rejected"):
            store.add_battle(make_battle(2, model_b="m1"))
        assert [b.battle_id for b in store.battles()] == ["b1"] and [lab.score for lab in store.labels()] == [7]
        store.close()
