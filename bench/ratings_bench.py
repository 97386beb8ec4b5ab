"""Bench: Bradley–Terry fit + 100 bootstrap rounds on 100k simulated battles among 20 models.

Goal: ≤ 5 s on 2 cores. Prints the time, the ratio to the goal and how well the truth is recovered.
Run: python bench/ratings_bench.py [--battles N] [--models K] [--rounds R]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from cvalues_space.ratings import fit_bradley_terry, simulate_battles

GOAL_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    true = np.linspace(700.0, 1300.0, args.models)
    true += 1000.0 - true.mean()
    a, b, w = simulate_battles(true, args.battles, seed=args.seed, tie_rate=0.0)
    names = [f"m{i}" for i in range(args.models)]
    fit_bradley_terry(a[:1000], b[:1000], w[:1000], models=names, rounds=2)  # warm-up (imports, caches)

    start = time.perf_counter()
    r = fit_bradley_terry(a, b, w, models=names, rounds=args.rounds, seed=args.seed)
    elapsed = time.perf_counter() - start

    err = np.abs(r.rating - true)
    covered = np.mean((r.lower <= true) & (true <= r.upper))
    print(f"battles={args.battles} models={args.models} bootstrap_rounds={args.rounds}")
    print(f"fit+bootstrap: {elapsed:.3f} s  (goal <= {GOAL_S:.1f} s; ratio to goal {elapsed / GOAL_S:.3f})")
    print(f"max |rating - truth| = {err.max():.1f} points; mean 95% interval width = "
          f"{np.mean(r.upper - r.lower):.1f}; coverage = {covered:.2f}")


if __name__ == "__main__":
    main()
