"""Bench: 50 concurrent writers put 5,000 votes into the SQLite vote store.

Goals: p99 write latency ≤ 20 ms, 0 votes lost. Latency is measured per vote from the call to
its committed return (lock wait included). Run: python bench/store_bench.py [--writers N] [--votes N]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from cvalues_space.store import VoteStore, utc_now

from cvalues_build.core.records import Battle

GOAL_P99_MS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--votes", type=int, default=5_000)
    parser.add_argument("--synchronous", default="NORMAL", help="SQLite synchronous mode (NORMAL or FULL)")
    parser.add_argument("--db", type=Path, help="database path (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite3"
        store = VoteStore(db, synchronous=args.synchronous)
        per_writer = args.votes // args.writers
        latencies: list[list[float]] = [[] for _ in range(args.writers)]
        failures: list[str] = []
        barrier = threading.Barrier(args.writers)

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

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(args.writers)]
        wall = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - wall
        store.close()

        expected = per_writer * args.writers
        conn = sqlite3.connect(db)
        present = conn.execute("SELECT COUNT(*) FROM battles").fetchone()[0]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()

    ms = np.concatenate([np.asarray(x) for x in latencies]) * 1000.0
    p50, p99 = np.percentile(ms, [50, 99])
    lost = expected - present
    print(f"writers={args.writers} votes={expected} synchronous={args.synchronous}")
    print(f"throughput: {expected / wall:.0f} votes/s over {wall:.2f} s")
    print(f"write latency p50 = {p50:.2f} ms, p99 = {p99:.2f} ms, max = {ms.max():.2f} ms "
          f"(goal p99 <= {GOAL_P99_MS:.0f} ms; ratio to goal {p99 / GOAL_P99_MS:.3f})")
    print(f"lost = {lost} (goal 0); errors = {len(failures)}; integrity_check = {integrity}")


if __name__ == "__main__":
    main()
