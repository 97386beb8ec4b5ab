"""Group commit in the vote store (issue 15 step 7): FULL durability by default, each vote
acknowledged only once its shared transaction is durable, and one bad vote failing alone."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cvalues_space.group_commit import GroupCommitter
from cvalues_space.store import DuplicateVote, VoteStore
from test_space_store import make_battle, make_label

WAIT_S = 30.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def in_threads(calls: dict[str, Callable[[], object]]) -> tuple[dict[str, BaseException | None], list[threading.Thread]]:
    """Start one thread per call; ``outcomes[name]`` is filled with its error (None: it returned)."""
    outcomes: dict[str, BaseException | None] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        try:
            call()
            outcomes[name] = None
        except BaseException as err:  # noqa: BLE001 - handed to the test
            outcomes[name] = err

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in calls.items()]
    for th in threads:
        th.start()
    return outcomes, threads


def join_all(threads: list[threading.Thread]) -> None:
    for th in threads:
        th.join(WAIT_S)
        assert not th.is_alive(), "a caller never got its acknowledgement"


def stall_writer(committer: GroupCommitter, lock, first: Callable[[], object]):
    """Hold ``lock``, then let ``first`` in: the writer thread takes it and blocks on the lock, so
    everything queued from now on waits together for the next transaction."""
    lock.__enter__()
    outcomes, threads = in_threads({"first": first})
    try:
        wait_until(lambda: committer._thread is not None and committer.pending() == 0,
                   "the writer took the first write")
    except BaseException:
        lock.__exit__(None, None, None)
        raise
    return outcomes, threads


def test_full_is_the_default_on_every_connection(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    store.add_battle(make_battle(1))  # the writer thread has opened its connection
    levels = [conn.execute("PRAGMA synchronous").fetchone()[0] for conn in store._conns]
    assert len(levels) >= 2 and levels == [2] * len(levels)  # 2 is FULL
    store.close()


ACK_WRITER = """
import os, signal, sys, threading
from cvalues_space.store import VoteStore, utc_now
from cvalues_build.core.records import Battle
store, kill_at = VoteStore(sys.argv[1]), int(sys.argv[2])
acks, printing = [0], threading.Lock()

def writer(t):
    for i in range(10_000):
        store.add_battle(Battle(battle_id=f"t{t}-{i}", prompt_id="p", criterion="safety", model_a="m1",
                                model_b="m2", reply_a="a" * 500, reply_b="b" * 500, winner="tie",
                                anonymous=True, annotator=f"x{t}", created_at=utc_now()))
        with printing:  # the acknowledgement: add_battle has returned
            print(f"t{t}-{i}", flush=True)
            acks[0] += 1
            if acks[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # right after this acknowledgement

for t in range(8):
    threading.Thread(target=writer, args=(t,)).start()
"""


def test_every_acknowledged_vote_survives_sigkill_right_after_its_acknowledgement(tmp_path):
    db = tmp_path / "crash.sqlite3"
    proc = subprocess.run([sys.executable, "-c", ACK_WRITER, str(db), "200"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    acked = proc.stdout.split()
    assert len(acked) == 200
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT battle_id FROM battles")}
    conn.close()
    assert sorted(set(acked) - stored) == []
    assert VoteStore(db).integrity_check() == "ok"


def test_concurrent_votes_are_each_stored_once(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    calls: dict[str, Callable[[], object]] = {}
    for t in range(20):
        calls[f"battles{t}"] = lambda t=t: [store.add_battle(make_battle(f"{t}-{k}")) for k in range(15)]
        calls[f"labels{t}"] = lambda t=t: [store.add_label(make_label(k, annotator=f"a{t}")) for k in range(15)]
    outcomes, threads = in_threads(calls)
    join_all(threads)
    assert outcomes == dict.fromkeys(calls)
    assert sorted(b.battle_id for b in store.battles()) == sorted(f"b{t}-{k}" for t in range(20) for k in range(15))
    pairs = [(lab.response_id, lab.annotator) for lab in store.labels()]
    assert sorted(pairs) == sorted((f"r{k}", f"a{t}") for t in range(20) for k in range(15))
    assert store._committer.writes == 600
    store.close()


def test_a_failing_vote_in_a_group_fails_only_its_own_caller(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite3")
    store.add_battle(make_battle("taken"))
    store.add_label(make_label(9))
    groups_before = store._committer.groups
    outcomes, threads = stall_writer(store._committer, store._write_lock, lambda: store.add_battle(make_battle(0)))
    try:
        good = {f"good{i}": (lambda i=i: store.add_battle(make_battle(f"g{i}"))) for i in range(6)}
        bad = {
            "duplicate": lambda: store.add_battle(make_battle("taken", winner="tie")),
            "against_itself": lambda: store.add_battle(make_battle("self", model_b="m1")),
            "labelled_twice": lambda: store.add_label(make_label(9, score=2)),
        }
        more, more_threads = in_threads({**good, **bad})
        threads += more_threads
        wait_until(lambda: store._committer.pending() == len(good) + len(bad), "every vote was queued")
    finally:
        store._write_lock.__exit__(None, None, None)
    join_all(threads)
    assert store._committer.groups == groups_before + 2  # the first vote's, then all the others' together
    assert outcomes["first"] is None and all(more[name] is None for name in good)
    assert isinstance(more["duplicate"], DuplicateVote) and "already has a vote" in str(more["duplicate"])
    assert isinstance(more["against_itself"], ValueError) and "rejected" in str(more["against_itself"])
    assert isinstance(more["labelled_twice"], DuplicateVote)
    assert sorted(b.battle_id for b in store.battles()) == sorted(["btaken", "b0"] + [f"bg{i}" for i in range(6)])
    assert [b.winner for b in store.battles() if b.battle_id == "btaken"] == ["model_a"]
    assert [lab.score for lab in store.labels()] == [7]
    store.close()


def test_an_error_of_the_transaction_reaches_every_caller_in_it(tmp_path):
    """A deferred foreign key fails at COMMIT, not in any one statement: the whole group fails,
    nothing of it is stored, and the next group commits as usual."""
    db = tmp_path / "fk.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.executescript("""
        PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (id INTEGER PRIMARY KEY,
                            parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
        INSERT INTO parent VALUES (1);
    """)
    lock = threading.Lock()
    committed: list[int] = []
    committer = GroupCommitter(lambda: conn, lock, committed.append)
    insert = "INSERT INTO child VALUES (?, ?)"
    outcomes, threads = stall_writer(committer, lock, lambda: committer.execute(insert, (1, 1)))
    try:
        group = {f"c{i}": (lambda i=i: committer.execute(insert, (10 + i, 1))) for i in range(4)}
        group["orphan"] = lambda: committer.execute(insert, (99, 2))  # no parent 2
        more, more_threads = in_threads(group)
        threads += more_threads
        wait_until(lambda: committer.pending() == len(group), "the group was queued")
    finally:
        lock.release()
    join_all(threads)
    assert outcomes["first"] is None and committed == [1]
    assert all(isinstance(err, sqlite3.IntegrityError) and "FOREIGN KEY" in str(err) for err in more.values())
    assert committer.execute(insert, (2, 1)) == 1 and committed == [1, 1]
    committer.close()
    assert [r[0] for r in sqlite3.connect(db).execute("SELECT id FROM child ORDER BY id")] == [1, 2]
    conn.close()


def test_close_commits_the_queued_votes_and_a_later_vote_still_works(tmp_path):
    db: Path = tmp_path / "v.sqlite3"
    store = VoteStore(db)
    outcomes, threads = stall_writer(store._committer, store._write_lock, lambda: store.add_battle(make_battle(0)))
    try:
        queued = {f"v{i}": (lambda i=i: store.add_battle(make_battle(i))) for i in range(1, 9)}
        more, more_threads = in_threads(queued)
        threads += more_threads
        wait_until(lambda: store._committer.pending() == len(queued), "every vote was queued")
        closing = threading.Thread(target=store.close, daemon=True)
        closing.start()
        wait_until(lambda: store._committer._closing, "close() is waiting for the queue")
    finally:
        store._write_lock.__exit__(None, None, None)
    join_all(threads + [closing])
    assert outcomes["first"] is None and more == dict.fromkeys(queued)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM battles").fetchone()[0] == 9
    conn.close()
    store.add_battle(make_battle(10))  # as before group commit, a closed store still takes a write
    store.close()
    assert len(VoteStore(db).battles()) == 10


@pytest.mark.parametrize("mode", ["NORMAL", "FULL"])
def test_the_synchronous_mode_can_still_be_chosen(tmp_path, mode):
    store = VoteStore(tmp_path / "v.sqlite3", synchronous=mode)
    store.add_battle(make_battle(1))
    assert {conn.execute("PRAGMA synchronous").fetchone()[0] for conn in store._conns} == {
        {"NORMAL": 1, "FULL": 2}[mode]}
    store.close()
