"""Bradley–Terry ratings: recovery of known strengths, interval coverage, ties, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from cvalues_space.ratings import BASE, fit_bradley_terry, simulate_battles

TRUE = np.array([850.0, 950.0, 1000.0, 1060.0, 1140.0])  # mean 1000, the scale's anchor
NAMES = [f"m{i}" for i in range(len(TRUE))]


def test_recovers_known_strengths_and_intervals_cover_them():
    a, b, w = simulate_battles(TRUE, 20_000, seed=7)
    r = fit_bradley_terry(a, b, w, models=NAMES, rounds=100, seed=0)
    assert np.allclose(r.rating, TRUE, atol=20), r.rating
    assert np.all((r.lower <= TRUE) & (TRUE <= r.upper)), (r.lower, r.upper)
    assert np.all(r.upper - r.lower < 60)  # informative, not trivially wide
    assert r.rating.mean() == pytest.approx(BASE)
    assert list(np.argsort(r.rating)) == list(np.argsort(TRUE))


def test_bootstrap_coverage_is_near_nominal():
    """Over many simulated arenas, the 95% intervals cover the truth most of the time."""
    covered = []
    for seed in range(12):
        a, b, w = simulate_battles(TRUE, 3_000, seed=100 + seed)
        r = fit_bradley_terry(a, b, w, models=NAMES, rounds=100, seed=seed)
        covered.extend((r.lower <= TRUE) & (TRUE <= r.upper))
    assert np.mean(covered) >= 0.85


def test_seeded_bootstrap_is_reproducible():
    a, b, w = simulate_battles(TRUE, 2_000, seed=1)
    r1 = fit_bradley_terry(a, b, w, rounds=50, seed=3)
    r2 = fit_bradley_terry(a, b, w, rounds=50, seed=3)
    r3 = fit_bradley_terry(a, b, w, rounds=50, seed=4)
    assert np.array_equal(r1.lower, r2.lower) and np.array_equal(r1.upper, r2.upper)
    assert not np.array_equal(r1.lower, r3.lower)


def test_ties_and_both_bad_count_half():
    # x beats y twice and ties twice: 3 wins out of 4 for x, so odds 3:1 (400·log10(3) ≈ 191 points).
    a = ["x", "y", "x", "y"]
    b = ["y", "x", "y", "x"]
    w = ["model_a", "model_b", "tie", "both_bad"]
    r = fit_bradley_terry(a, b, w, rounds=0, reg=0.0).as_dict()
    assert r["x"]["rating"] - r["y"]["rating"] == pytest.approx(400 * np.log10(3), abs=0.5)
    even = fit_bradley_terry(["x", "y"], ["y", "x"], ["tie", "both_bad"], rounds=0).as_dict()
    assert even["x"]["rating"] == pytest.approx(even["y"]["rating"])


def test_sides_do_not_matter():
    a, b, w = simulate_battles(TRUE, 3_000, seed=5)
    flip = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}
    r1 = fit_bradley_terry(a, b, w, models=NAMES, rounds=0)
    r2 = fit_bradley_terry(b, a, [flip[x] for x in w], models=NAMES, rounds=0)
    assert np.allclose(r1.rating, r2.rating, atol=1e-4)


def test_undefeated_model_stays_finite_and_unplayed_model_sits_at_base():
    r = fit_bradley_terry(["x"] * 5, ["y"] * 5, ["model_a"] * 5, models=["x", "y", "z"], rounds=20).as_dict()
    assert np.isfinite(r["x"]["rating"]) and r["x"]["rating"] > r["y"]["rating"]
    assert r["z"]["battles"] == 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="against itself"):
        fit_bradley_terry(["x"], ["x"], ["tie"])
    with pytest.raises(ValueError, match="unknown"):
        fit_bradley_terry(["x"], ["y"], ["draw"])
    with pytest.raises(ValueError, match="lengths"):
        fit_bradley_terry(["x"], ["y"], [])
    assert fit_bradley_terry([], [], []).models == []
