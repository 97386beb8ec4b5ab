"""Bench: 50 concurrent writers put 5,000 votes into the SQLite vote store, NORMAL and FULL.

Goal: with ``synchronous=FULL`` (the store's default: every vote fsynced before it is
acknowledged), p99 write latency ≤ 20 ms and 0 votes lost. Latency is measured per vote from the
call to its acknowledged return. Each configuration runs ``--runs`` times (interleaved) and the
median of the runs is printed. The baseline, run in the same process on the same store, is the
write path before group commit: one transaction per vote, writers queued on the store's FIFO lock.
Run: python bench/store_bench.py [--writers N] [--votes N] [--runs N] [--modes NORMAL,FULL]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from cvalues_space.store import VoteStore, utc_now

from cvalues_build.core.records import Battle

GOAL_P99_MS = 20.0
GOAL_MODE = "FULL"
PATHS = ("per-vote transactions (baseline)", "group commit (the store)")


def per_vote_transactions(store: VoteStore) -> None:
    """Swap in the write path before group commit: each vote its own transaction under the lock."""
    def write(sql: str, params: tuple) -> None:
        with store._write_lock:
            with store._transaction() as conn:
                conn.execute(sql, params)
            store._count_commits(1)  # the same background checkpoints as the store's own path

    store._write = write  # type: ignore[method-assign]


def one_run(db: Path, mode: str, baseline: bool, writers: int, votes: int) -> dict[str, float]:
    """One run on a fresh database: latency percentiles (ms), votes/s, lost votes and group sizes."""
    store = VoteStore(db, synchronous=mode)
    if baseline:
        per_vote_transactions(store)
    per_writer = votes // writers
    latencies: list[list[float]] = [[] for _ in range(writers)]
    failures: list[str] = []
    barrier = threading.Barrier(writers)

    def writer(t: int) -> None:
        barrier.wait()
        for k in range(per_writer):
            battle = Battle(
                battle_id=f"w{t}-{k}", prompt_id=f"p{k % 97}", criterion="safety", model_a=f"m{t % 7}",
                model_b=f"m{(t % 7) + 1}", reply_a="回复甲" * 80, reply_b="回复乙" * 80,
                winner=("model_a", "model_b", "tie", "both_bad")[k % 4], anonymous=True,
                annotator=f"a{t}", created_at=utc_now(), prompt="问题" * 30, category="crimes",
            )
            start = time.perf_counter()
            try:
                store.add_battle(battle)
            except Exception as err:  # noqa: BLE001 - counted as lost below
                failures.append(f"{battle.battle_id}: {err}")
                continue
            latencies[t].append(time.perf_counter() - start)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(writers)]
    wall = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - wall
    groups, grouped = store._committer.groups, store._committer.writes
    store.close()
    with sqlite3.connect(db) as conn:
        present = conn.execute("SELECT COUNT(*) FROM battles").fetchone()[0]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    ms = np.concatenate([np.asarray(x) for x in latencies]) * 1000.0
    p50, p99 = np.percentile(ms, [50, 99])
    return {"p50": p50, "p99": p99, "max": ms.max(), "rate": per_writer * writers / wall,
            "lost": per_writer * writers - present, "errors": len(failures), "damaged": integrity != "ok",
            "group": grouped / groups if groups else 1.0}


def fsync_ms(folder: Path, calls: int = 200) -> tuple[float, float]:
    """p50 and p99 of one fsync after an 8 KiB append in ``folder``: the floor of a FULL commit."""
    path = folder / "fsync-probe"
    seconds = []
    with path.open("wb") as handle:
        for _ in range(calls):
            handle.write(b"x" * 8192)
            handle.flush()
            start = time.perf_counter()
            os.fsync(handle.fileno())
            seconds.append(time.perf_counter() - start)
    path.unlink()
    p50, p99 = np.percentile(np.asarray(seconds) * 1000.0, [50, 99])
    return float(p50), float(p99)


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    summary = {k: statistics.median(r[k] for r in runs) for k in ("p50", "p99", "max", "rate", "group")}
    summary.update(lost=sum(r["lost"] for r in runs), errors=sum(r["errors"] for r in runs),
                   damaged=sum(r["damaged"] for r in runs), p99s=[r["p99"] for r in runs])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--votes", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration; the median is printed")
    parser.add_argument("--modes", default="NORMAL,FULL", help="SQLite synchronous modes, comma-separated")
    parser.add_argument("--no-baseline", action="store_true", help="skip the per-vote transaction baseline")
    parser.add_argument("--dir", type=Path, help="folder for the databases (default: a temporary folder)")
    args = parser.parse_args()
    modes = [m.strip().upper() for m in args.modes.split(",") if m.strip()]
    paths = [False] if args.no_baseline else [True, False]
    runs: dict[tuple[str, bool], list[dict[str, float]]] = {(m, b): [] for m in modes for b in paths}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        fsync_p50, fsync_p99 = fsync_ms(Path(tmp))
        for r in range(args.runs):  # interleaved, so that a burst of load elsewhere hits every configuration
            for mode, baseline in runs:
                db = Path(tmp) / f"{mode}-{int(baseline)}-{r}.sqlite3"
                runs[mode, baseline].append(one_run(db, mode, baseline, args.writers, args.votes))
    load_after = os.getloadavg()
    votes = args.votes // args.writers * args.writers
    print(f"writers={args.writers} votes={votes} runs={args.runs} (median of the runs), {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"the disk: one fsync of an 8 KiB append takes p50 {fsync_p50:.2f} ms, p99 {fsync_p99:.2f} ms "
          "(a FULL vote waits for at least one, usually the one in progress as well)")
    print(f"{'mode':<7} {'write path':<34} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'votes/s':>8} "
          f"{'votes/txn':>9}  lost  p99 of each run")
    summaries = {key: median_of(r) for key, r in runs.items()}
    for (mode, baseline), s in summaries.items():
        print(f"{mode:<7} {PATHS[0] if baseline else PATHS[1]:<34} {s['p50']:7.2f} {s['p99']:7.2f} {s['max']:7.1f} "
              f"{s['rate']:8.0f} {s['group']:9.1f}  {s['lost']:4d}  {', '.join(f'{p:.1f}' for p in s['p99s'])}"
              + (f"  errors={s['errors']}" if s["errors"] else "") + ("  INTEGRITY FAILED" if s["damaged"] else ""))
    for mode in modes:
        if (mode, True) in summaries:
            before, after = summaries[mode, True], summaries[mode, False]
            print(f"{mode}: group commit p99 {before['p99'] / after['p99']:.2f}x lower than per-vote transactions, "
                  f"throughput {after['rate'] / before['rate']:.2f}x")
    if GOAL_MODE in modes:
        goal = summaries[GOAL_MODE, False]
        met = goal["p99"] <= GOAL_P99_MS and goal["lost"] == 0 and not goal["damaged"]
        print(f"goal: {GOAL_MODE}, p99 <= {GOAL_P99_MS:.0f} ms, 0 lost: p99 = {goal['p99']:.2f} ms "
              f"(ratio to goal {goal['p99'] / GOAL_P99_MS:.2f}), lost = {goal['lost']}: {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
