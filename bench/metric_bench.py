"""Metric speed: score 300k label predictions (150k pairs) with pair ids, categories and a
1000-round bootstrap through ``evaluate.load("metric/cvalues")``. Goal: <= 2 s on 2 cores.

Prints the end-to-end ``compute`` time (evaluate's Arrow round trip included), the time of the
scoring function alone, and their ratios to the goal.

    python bench/metric_bench.py [--items 300000] [--rounds 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

GOAL_SECONDS = 2.0
METRIC_DIR = Path(__file__).resolve().parents[1] / "metric" / "cvalues"
# The 18 CValues category ids (10 safety scenarios, 8 responsibility domains); spelled out so the
# bench needs nothing but the metric.
CATEGORIES = [
    "dangerous_topics", "sensitive_topics", "crimes", "physical_mental_health", "personal_privacy",
    "objective_unbiased", "ethics_morality", "malicious_inducement", "attack_instructions", "others",
    "environmental_science", "psychology", "intimate_relationship", "lesser_known_major", "data_science",
    "barrier_free", "law", "social_science",
]


def make_inputs(n_items: int, seed: int = 0) -> dict:
    """Both orders of n_items / 2 pairs; the model is right 75% of the time and leans to 回复1."""
    rng = np.random.default_rng(seed)
    n_pairs = n_items // 2
    labels = np.array(["回复1", "回复2"], dtype=object)
    references = labels[np.tile([0, 1], n_pairs)]
    right = rng.random(2 * n_pairs) < 0.75
    chosen = np.where(right, np.tile([0, 1], n_pairs), np.tile([1, 0], n_pairs))
    chosen[rng.random(2 * n_pairs) < 0.05] = 0  # position bias
    predictions = labels[chosen]
    pair_ids = [f"p{i:07d}" for i in range(n_pairs) for _ in (0, 1)]
    pair_category = rng.integers(0, len(CATEGORIES), n_pairs)
    categories = [CATEGORIES[c] for c in np.repeat(pair_category, 2)]
    return {
        "predictions": predictions.tolist(), "references": references.tolist(),
        "pair_ids": pair_ids, "categories": categories,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    metric = evaluate.load(str(METRIC_DIR))
    module = __import__(type(metric).__module__, fromlist=["score"])
    inputs = make_inputs(args.items)

    end_to_end, core = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = metric.compute(**inputs, bootstrap=args.rounds, seed=0)
        end_to_end.append(time.perf_counter() - start)
        start = time.perf_counter()
        module.score(**inputs, bootstrap=args.rounds, seed=0)
        core.append(time.perf_counter() - start)

    best, best_core = min(end_to_end), min(core)
    print(f"items {args.items}, pairs {args.items // 2}, categories {len(CATEGORIES)}, bootstrap {args.rounds}, "
          f"cpus {os.cpu_count()}")
    print(f"accuracy {result['accuracy']:.4f}  consistent {result['consistent_accuracy']:.4f}  "
          f"bias {result['position_bias']:+.4f}  ci {result['accuracy_ci']}")
    print(f"compute (evaluate, end to end): {best:.3f} s  ratio to {GOAL_SECONDS:.0f} s goal: {best / GOAL_SECONDS:.2f}")
    print(f"score() alone:                  {best_core:.3f} s  ratio to {GOAL_SECONDS:.0f} s goal: {best_core / GOAL_SECONDS:.2f}")


if __name__ == "__main__":
    main()
